// chainpost web app: signs posts in the browser and keeps pages live.
//
// - Identity: Ed25519 key pairs made with WebCrypto, kept in this browser's localStorage
//   (as JWKs) in a keyring, one of them the key that signs. Each post is signed over the
//   exact bytes the node verifies (see webapp/src/post.rs, `signing_message`). A key is
//   backed up as a password-encrypted file (PBKDF2-SHA256 and AES-GCM) and imported from
//   one.
// - Live pages: the server's /events stream says when the node's state changed; the page
//   then fetches itself and swaps its [data-live-part] sections, leaving the form alone.
//
// Everything here is an enhancement: without JavaScript, posts go unsigned (as in the
// tutorial) and pages show what was true when they loaded.
"use strict";

(() => {
  // Version 1: one key. Read once, into the keyring.
  const STORE_KEY = "chainpost.identity.v1";
  const KEYRING_KEY = "chainpost.keyring.v2";
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
  // ends with the byte 1 and the 32-byte id of the post it answers, a profile with the
  // byte 2, the handle's length as one byte and the handle (ASCII).
  function signingMessage(author, content, timestamp, publicKey, replyTo, handle) {
    const encoder = new TextEncoder();
    const domain = encoder.encode(DOMAIN);
    const authorBytes = encoder.encode(author);
    const contentBytes = encoder.encode(content);
    let kind = new Uint8Array(0);
    if (replyTo) {
      kind = new Uint8Array([1, ...fromHex(replyTo)]);
    } else if (handle) {
      const handleBytes = encoder.encode(handle);
      kind = new Uint8Array([2, handleBytes.length, ...handleBytes]);
    }
    const message = new Uint8Array(
      domain.length + 4 + authorBytes.length + 4 + contentBytes.length + 8 + publicKey.length +
        kind.length,
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
    message.set(kind, offset);
    return message;
  }

  // The keyring: every key this browser made or imported, and which one signs. Kept in
  // localStorage as JWKs; version 1 kept a single key, which becomes the keyring's first.
  function readKeyring() {
    try {
      const stored = localStorage.getItem(KEYRING_KEY);
      if (stored) {
        const ring = JSON.parse(stored);
        if (Array.isArray(ring.keys)) return ring;
      }
      const single = localStorage.getItem(STORE_KEY);
      if (single) {
        const jwk = JSON.parse(single);
        return { current: jwk.x, keys: [jwk] };
      }
    } catch (error) {
      console.warn("chainpost: the stored keys are unreadable", error);
    }
    return { current: null, keys: [] };
  }

  function writeKeyring(ring) {
    try {
      localStorage.setItem(KEYRING_KEY, JSON.stringify(ring));
    } catch (error) {
      // Private windows may refuse storage: the keys then last as long as the page.
      console.warn("chainpost: cannot store the signing keys", error);
    }
  }

  let keyring = { current: null, keys: [] };

  async function identityOf(jwk) {
    const privateKey = await crypto.subtle.importKey("jwk", jwk, ED25519, false, ["sign"]);
    return { privateKey, publicKey: fromBase64Url(jwk.x), jwk };
  }

  // Adds `jwk` to the keyring (once) and makes it the key that signs.
  async function useKey(jwk) {
    const id = await identityOf(jwk);
    if (!keyring.keys.some((known) => known.x === jwk.x)) keyring.keys.push(jwk);
    keyring.current = jwk.x;
    writeKeyring(keyring);
    return id;
  }

  async function createIdentity() {
    const pair = await crypto.subtle.generateKey(ED25519, true, ["sign", "verify"]);
    return useKey(await crypto.subtle.exportKey("jwk", pair.privateKey));
  }

  async function loadIdentity() {
    // WebCrypto exists only on secure origins (https, or http on localhost).
    if (!window.crypto || !crypto.subtle) return null;
    keyring = readKeyring();
    const current = keyring.keys.find((jwk) => jwk.x === keyring.current) || keyring.keys[0];
    if (current) {
      try {
        return await useKey(current);
      } catch (error) {
        console.warn("chainpost: the stored key is unusable; making a new one", error);
      }
    }
    try {
      return await createIdentity();
    } catch (error) {
      console.warn("chainpost: this browser cannot make Ed25519 keys", error);
      return null;
    }
  }

  // A backup is the key's JWK encrypted with AES-GCM under a key derived from a password
  // with PBKDF2-SHA256, as JSON; any browser with the password can import it.
  const BACKUP_FORMAT = "chainpost-key-backup";
  const BACKUP_ITERATIONS = 600000;
  const toBase64 = (bytes) => btoa(String.fromCharCode(...bytes));
  const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

  async function passwordKey(password, salt, iterations, usage) {
    const material = await crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(password),
      "PBKDF2",
      false,
      ["deriveKey"],
    );
    return crypto.subtle.deriveKey(
      { name: "PBKDF2", hash: "SHA-256", salt, iterations },
      material,
      { name: "AES-GCM", length: 256 },
      false,
      [usage],
    );
  }

  async function exportBackup(id, password) {
    const salt = crypto.getRandomValues(new Uint8Array(16));
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const key = await passwordKey(password, salt, BACKUP_ITERATIONS, "encrypt");
    const plain = new TextEncoder().encode(JSON.stringify(id.jwk));
    const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, plain));
    return JSON.stringify({
      format: BACKUP_FORMAT,
      version: 1,
      public_key: hex(id.publicKey),
      kdf: { name: "PBKDF2", hash: "SHA-256", iterations: BACKUP_ITERATIONS, salt: toBase64(salt) },
      cipher: { name: "AES-GCM", iv: toBase64(iv) },
      ciphertext: toBase64(sealed),
    });
  }

  // The JWK in a backup, or an Error saying in the reader's words what is wrong.
  async function openBackup(text, password) {
    let backup;
    try {
      backup = JSON.parse(text);
    } catch {
      throw new Error("This is not a chainpost key backup (it is not JSON).");
    }
    if (!backup || backup.format !== BACKUP_FORMAT || backup.version !== 1) {
      throw new Error("This is not a chainpost key backup.");
    }
    const iterations = Number(backup.kdf && backup.kdf.iterations);
    if (!Number.isInteger(iterations) || iterations < 1 || iterations > 10000000) {
      throw new Error("This backup names an unusable key derivation.");
    }
    let plain;
    try {
      const key = await passwordKey(password, fromBase64(backup.kdf.salt), iterations, "decrypt");
      plain = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: fromBase64(backup.cipher.iv) },
        key,
        fromBase64(backup.ciphertext),
      );
    } catch {
      throw new Error("Wrong password, or the backup was changed.");
    }
    const jwk = JSON.parse(new TextDecoder().decode(plain));
    if (hex(fromBase64Url(jwk.x)) !== backup.public_key) {
      throw new Error("The backup's key does not match the key it names.");
    }
    return jwk;
  }

  let identity = loadIdentity();

  async function showIdentity() {
    const id = await identity;
    const line = document.getElementById("identity");
    const status = document.getElementById("key-status");
    const keyLine = document.getElementById("key-line");
    const fingerprint = document.getElementById("key-fingerprint");
    const tools = document.getElementById("key-tools");
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
    if (tools) tools.hidden = false;
    const profileLink = document.getElementById("profile-link");
    if (profileLink) profileLink.href = `/profile?key=${keyHex}`;
    // The profile page edits the profile of the key that signs here.
    if (
      location.pathname === "/profile" &&
      new URLSearchParams(location.search).get("key") !== keyHex
    ) {
      location.replace(`/profile?key=${keyHex}`);
    }
    const select = document.getElementById("key-select");
    if (select) {
      select.replaceChildren(
        ...keyring.keys.map((jwk) => {
          const keyHex = hex(fromBase64Url(jwk.x));
          const option = new Option(keyHex.slice(0, 8), jwk.x, false, jwk.x === keyring.current);
          option.title = keyHex;
          return option;
        }),
      );
    }
    markOwnPosts();
  }

  function setUpKeyChoice() {
    const select = document.getElementById("key-select");
    if (!select) return;
    select.addEventListener("change", async () => {
      const jwk = keyring.keys.find((known) => known.x === select.value);
      if (!jwk) return;
      identity = useKey(jwk).catch(() => null);
      await showIdentity();
    });
  }

  function setUpBackup() {
    const panel = document.getElementById("backup-panel");
    if (!panel) return;
    const password = document.getElementById("backup-password");
    const text = document.getElementById("backup-text");
    const status = document.getElementById("backup-status");
    const say = (message, problem) => {
      status.textContent = message;
      status.classList.toggle("form-error", Boolean(problem));
    };
    const longEnough = () => {
      if (password.value.length >= 8) return true;
      say("Choose a password of at least 8 characters.", true);
      password.focus();
      return false;
    };
    document.getElementById("export-key").addEventListener("click", async () => {
      const id = await identity;
      if (!id || !longEnough()) return;
      say("Encrypting…");
      const backup = await exportBackup(id, password.value);
      text.value = backup;
      const link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([backup], { type: "application/json" }));
      link.download = `chainpost-key-${hex(id.publicKey).slice(0, 8)}.json`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 0);
      say("Exported: the file is downloaded, and the backup is in the box above to copy.");
    });
    document.getElementById("backup-file").addEventListener("change", async (event) => {
      const file = event.target.files && event.target.files[0];
      if (!file) return;
      // A backup is well under a kilobyte; a large file is not one, and is not read.
      if (file.size >= 64 * 1024) {
        say("This file is too large to be a chainpost key backup.", true);
        return;
      }
      text.value = await file.text();
      say("");
    });
    document.getElementById("import-key").addEventListener("click", async () => {
      if (!text.value.trim()) {
        say("Paste a backup, or choose its file, first.", true);
        return;
      }
      if (!longEnough()) return;
      say("Decrypting…");
      try {
        const jwk = await openBackup(text.value, password.value);
        identity = Promise.resolve(await useKey(jwk));
        await showIdentity();
        say(`Imported: you now sign as ${hex(fromBase64Url(jwk.x)).slice(0, 8)}.`);
      } catch (error) {
        say(error.message || "This backup could not be imported.", true);
      }
    });
  }

  function markOwnPosts() {
    const mine = document.body.dataset.myKey;
    if (!mine) return;
    for (const post of document.querySelectorAll(".post[data-key]")) {
      const badge = post.querySelector(".badge-you");
      if (badge) badge.hidden = post.dataset.key !== mine;
    }
  }

  function setUpSignedForms() {
    for (const form of document.querySelectorAll("form[data-signs]")) signOnSubmit(form);
  }

  // The post, reply and profile forms: signed with this browser's key as they are sent.
  function signOnSubmit(form) {
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
          const handle = fields.handle ? fields.handle.value.trim() : "";
          const message = signingMessage(author, content, timestamp, id.publicKey, replyTo, handle);
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
      // The current key stays in the keyring: switching back is one choice away.
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

  setUpSignedForms();
  setUpNewKeyButton();
  setUpKeyChoice();
  setUpBackup();
  setUpBusyButtons();
  setUpNodePicker();
  setUpLiveUpdates();
  showIdentity();
})();
