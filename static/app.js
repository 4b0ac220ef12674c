// chainpost web app: signs posts in the browser and keeps pages live.
//
// - Identity: an Ed25519 key pair made with WebCrypto, its private key kept in this
//   browser's localStorage (as a JWK). Each post is signed over the exact bytes the node
//   verifies (see webapp/src/post.rs, `signing_message`).
// - Live pages: the server's /events stream says when the node's state changed; the page
//   then fetches itself and swaps its [data-live-part] sections, leaving the form alone.
//
// Everything here is an enhancement: without JavaScript, posts go unsigned (as in the
// tutorial) and pages show what was true when they loaded.
"use strict";

(() => {
  const STORE_KEY = "chainpost.identity.v1";
  const DOMAIN = "chainpost/post/v1\u0000";
  const ED25519 = { name: "Ed25519" };

  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

  function fromBase64Url(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "===".slice((base64.length + 3) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  }

  const fromHex = (text) => Uint8Array.from(text.match(/../g) || [], (pair) => parseInt(pair, 16));

  // The node's signing message: domain tag, then author and content as u32 big-endian
  // length + UTF-8 bytes, the timestamp as a big-endian f64, then the public key; a reply
  // ends with the byte 1 and the 32-byte id of the post it answers.
  function signingMessage(author, content, timestamp, publicKey, replyTo) {
    const encoder = new TextEncoder();
    const domain = encoder.encode(DOMAIN);
    const authorBytes = encoder.encode(author);
    const contentBytes = encoder.encode(content);
    const parent = replyTo ? fromHex(replyTo) : null;
    const message = new Uint8Array(
      domain.length + 4 + authorBytes.length + 4 + contentBytes.length + 8 + publicKey.length +
        (parent ? 1 + parent.length : 0),
    );
    const view = new DataView(message.buffer);
    let offset = 0;
    message.set(domain, offset);
    offset += domain.length;
    for (const bytes of [authorBytes, contentBytes]) {
      view.setUint32(offset, bytes.length); // DataView is big-endian unless told otherwise
      offset += 4;
      message.set(bytes, offset);
      offset += bytes.length;
    }
    view.setFloat64(offset, timestamp);
    offset += 8;
    message.set(publicKey, offset);
    offset += publicKey.length;
    if (parent) {
      message[offset] = 1;
      message.set(parent, offset + 1);
    }
    return message;
  }

  function remember(jwk) {
    try {
      localStorage.setItem(STORE_KEY, JSON.stringify(jwk));
    } catch (error) {
      // Private windows may refuse storage: the key then lasts as long as the page.
      console.warn("chainpost: cannot store the signing key", error);
    }
  }

  async function createIdentity() {
    const pair = await crypto.subtle.generateKey(ED25519, true, ["sign", "verify"]);
    remember(await crypto.subtle.exportKey("jwk", pair.privateKey));
    const publicKey = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    return { privateKey: pair.privateKey, publicKey };
  }

  async function loadIdentity() {
    // WebCrypto exists only on secure origins (https, or http on localhost).
    if (!window.crypto || !crypto.subtle) return null;
    try {
      const stored = localStorage.getItem(STORE_KEY);
      if (stored) {
        const jwk = JSON.parse(stored);
        const privateKey = await crypto.subtle.importKey("jwk", jwk, ED25519, false, ["sign"]);
        return { privateKey, publicKey: fromBase64Url(jwk.x) };
      }
    } catch (error) {
      console.warn("chainpost: the stored key is unusable; making a new one", error);
    }
    try {
      return await createIdentity();
    } catch (error) {
      console.warn("chainpost: this browser cannot make Ed25519 keys", error);
      return null;
    }
  }

  let identity = loadIdentity();

  async function showIdentity() {
    const id = await identity;
    const line = document.getElementById("identity");
    const status = document.getElementById("key-status");
    const keyLine = document.getElementById("key-line");
    const fingerprint = document.getElementById("key-fingerprint");
    const newKey = document.getElementById("new-key");
    if (!id) {
      if (line) line.textContent = "This browser cannot sign posts, so they are sent unsigned.";
      if (status) {
        status.textContent =
          "Signing needs Ed25519 in WebCrypto and a secure address (https, or localhost). " +
          "Posts from this browser are sent unsigned and show as unverified.";
      }
      return;
    }
    const keyHex = hex(id.publicKey);
    document.body.dataset.myKey = keyHex;
    if (line) {
      line.textContent = "Signed with your key ";
      const code = document.createElement("code");
      code.textContent = keyHex.slice(0, 8);
      code.title = keyHex;
      line.append(code);
    }
    if (fingerprint) {
      fingerprint.textContent = keyHex.slice(0, 8);
      fingerprint.title = keyHex;
    }
    if (keyLine) keyLine.hidden = false;
    if (newKey) newKey.hidden = false;
    markOwnPosts();
  }

  function markOwnPosts() {
    const mine = document.body.dataset.myKey;
    if (!mine) return;
    for (const post of document.querySelectorAll(".post[data-key]")) {
      const badge = post.querySelector(".badge-you");
      if (badge) badge.hidden = post.dataset.key !== mine;
    }
  }

  function setUpPostForm() {
    const form = document.getElementById("post-form");
    if (!form) return;
    form.addEventListener("submit", async (event) => {
      if (form.dataset.ready === "yes") return;
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      if (button) button.disabled = true;
      const fields = form.elements;
      try {
        const id = await identity;
        if (id) {
          const author = fields.author.value;
          // A textarea's value already uses LF; the server turns the CRLF a browser sends
          // back into LF, so both sides see the same bytes.
          const content = fields.content.value.replace(/\r\n?/g, "\n");
          const timestamp = Date.now() / 1000;
          const replyTo = fields.reply_to ? fields.reply_to.value : "";
          const message = signingMessage(author, content, timestamp, id.publicKey, replyTo);
          const signature = new Uint8Array(await crypto.subtle.sign(ED25519, id.privateKey, message));
          fields.timestamp.value = String(timestamp);
          fields.public_key.value = hex(id.publicKey);
          fields.signature.value = hex(signature);
        }
      } catch (error) {
        console.warn("chainpost: signing failed; sending the post unsigned", error);
        fields.timestamp.value = "";
        fields.public_key.value = "";
        fields.signature.value = "";
      }
      form.dataset.ready = "yes";
      form.submit(); // does not fire "submit" again
    });
  }

  function setUpNewKeyButton() {
    const button = document.getElementById("new-key");
    if (!button) return;
    button.addEventListener("click", async () => {
      const sure = window.confirm(
        "Make a new signing key? Posts you signed stay verified, but future posts will show a new fingerprint.",
      );
      if (!sure) return;
      identity = createIdentity().catch(() => null);
      await showIdentity();
    });
  }

  function setUpBusyButtons() {
    for (const form of document.querySelectorAll("form[data-busy]")) {
      form.addEventListener("submit", () => {
        const button = form.querySelector("button");
        if (!button) return;
        button.dataset.label = button.textContent;
        button.textContent = form.dataset.busy;
        // Disable after the submission has started, or the browser would cancel it.
        setTimeout(() => {
          button.disabled = true;
        }, 0);
      });
    }
    // Coming back through the history restores the page as it was left: re-enable.
    window.addEventListener("pageshow", () => {
      for (const button of document.querySelectorAll("form[data-busy] button[data-label]")) {
        button.textContent = button.dataset.label;
        button.disabled = false;
      }
    });
  }

  function setUpNodePicker() {
    const select = document.getElementById("node-select");
    if (select) select.addEventListener("change", () => select.form.submit());
  }

  function liveUrl() {
    const url = new URL(document.body.dataset.refresh || location.href, location.href);
    url.searchParams.set("node", document.body.dataset.node || "0");
    return url;
  }

  let refreshing = false;
  let refreshAgain = false;

  async function refresh() {
    if (refreshing) {
      refreshAgain = true;
      return;
    }
    refreshing = true;
    try {
      const response = await fetch(liveUrl(), {
        headers: { Accept: "text/html" },
        cache: "no-store",
        credentials: "same-origin",
      });
      const next = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const part of document.querySelectorAll("[data-live-part]")) {
        const fresh = next.getElementById(part.id);
        if (fresh) part.replaceWith(document.adoptNode(fresh));
      }
      const live = next.body && next.body.dataset.live;
      if (live) document.body.dataset.live = live;
      markOwnPosts();
    } catch (error) {
      console.warn("chainpost: live update failed", error);
    } finally {
      refreshing = false;
      if (refreshAgain) {
        refreshAgain = false;
        refresh();
      }
    }
  }

  let events = null;

  function openEvents() {
    if (events || !document.body.dataset.live || !window.EventSource) return;
    const node = encodeURIComponent(document.body.dataset.node || "0");
    events = new EventSource(`/events?node=${node}`);
    events.addEventListener("status", (event) => {
      if (event.data !== document.body.dataset.live) {
        document.body.dataset.live = event.data;
        refresh();
      }
    });
  }

  function setUpLiveUpdates() {
    openEvents();
    // Close the stream when leaving: a page kept in the back-forward cache would
    // otherwise hold one of the browser's few connections per host (six in HTTP/1.1)
    // and, a few pages later, stall every navigation.
    window.addEventListener("pagehide", () => {
      if (events) {
        events.close();
        events = null;
      }
    });
    window.addEventListener("pageshow", (event) => {
      if (event.persisted) {
        openEvents();
        refresh();
      }
    });
  }

  setUpPostForm();
  setUpNewKeyButton();
  setUpBusyButtons();
  setUpNodePicker();
  setUpLiveUpdates();
  showIdentity();
})();
