//! Integration tests of the web app: handlers against real nodes started in-process, and
//! real headless Chromium driven through chromedriver.

mod attack;
mod authors;
mod browser;
mod explorer;
mod failures;
mod helpers;
mod live;
mod names;
mod pages;
mod posting;
mod reader_nodes;
