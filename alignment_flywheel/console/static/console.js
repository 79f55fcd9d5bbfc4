// Review console: decisions, browser-side Ed25519 signing of patches, rollback, chart fallbacks.
// The private key file is read and used only here (WebCrypto); the server sees the signature.
"use strict";

function csrf() {
  return document.querySelector("meta[name=csrf-token]").content;
}

function showStatus(text, ok) {
  const node = document.getElementById("status");
  if (!node) return;
  node.textContent = text;
  node.className = ok ? "ok" : "error";
}

function errorText(data, response) {
  return (data && data.error && data.error.message) || response.statusText || "request failed";
}

async function postJson(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(errorText(data, response));
  return data;
}

function b64ToBytes(text) {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

function bytesToB64(buffer) {
  let raw = "";
  new Uint8Array(buffer).forEach((b) => { raw += String.fromCharCode(b); });
  return btoa(raw);
}

function pemToDer(text) {
  if (text.includes("ENCRYPTED")) {
    throw new Error("the key file is encrypted; export an unencrypted PKCS#8 copy to sign here");
  }
  const match = text.match(/-----BEGIN PRIVATE KEY-----([\s\S]*?)-----END PRIVATE KEY-----/);
  if (!match) throw new Error("not a PKCS#8 PEM private key (flywheel keys new writes one)");
  return b64ToBytes(match[1].replace(/\s+/g, ""));
}

function done(message) {
  sessionStorage.setItem("console-flash", message);
  location.reload();
}

async function decide(button) {
  const id = button.dataset.review;
  const reason = document.getElementById("reason-" + id).value;
  const data = await postJson("/console/api/reviews/" + id, {
    outcome: button.dataset.outcome,
    reason: reason,
  });
  done("review " + data.review_id + " " + data.outcome + " by " + data.reviewer);
}

async function sign(button) {
  const id = button.dataset.patch;
  const input = document.getElementById("key-" + id);
  if (!input.files.length) throw new Error("choose your approver key file first");
  if (!window.crypto || !crypto.subtle) {
    throw new Error("WebCrypto needs a secure context: open the console over HTTPS or localhost");
  }
  const der = pemToDer(await input.files[0].text());
  const key = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, false, ["sign"]);
  const response = await fetch("/console/api/patches/" + id + "/signing-request", {
    credentials: "same-origin",
  });
  const request = await response.json();
  if (!response.ok) throw new Error(errorText(request, response));
  const signature = await crypto.subtle.sign({ name: "Ed25519" }, key, b64ToBytes(request.pae));
  const data = await postJson("/console/api/patches/" + id + "/approvals", {
    signature: bytesToB64(signature),
    body_sha256: request.body_sha256,
  });
  done("patch " + data.patch_id + " approved with key " + data.key_id.slice(0, 12) +
    " by " + data.operator);
}

async function rollback() {
  const reason = document.getElementById("rollback-reason").value;
  const stable = document.getElementById("rollback-stable").checked;
  if (!confirm(stable ? "Roll back the STABLE version?" : "Withdraw the candidate release?")) {
    return;
  }
  const data = await postJson("/console/api/releases/rollback", { reason: reason, stable: stable });
  done("rolled back v" + data.version + "; v" + data.restored_version + " restored");
}

function guarded(action) {
  return (event) => {
    event.preventDefault();
    showStatus("working...", true);
    action(event.currentTarget).catch((error) => showStatus(error.message, false));
  };
}

document.addEventListener("DOMContentLoaded", () => {
  const flash = sessionStorage.getItem("console-flash");
  if (flash) {
    sessionStorage.removeItem("console-flash");
    showStatus(flash, true);
  }
  document.querySelectorAll("button.decide").forEach((b) => b.addEventListener("click", guarded(decide)));
  document.querySelectorAll("button.sign").forEach((b) => b.addEventListener("click", guarded(sign)));
  const back = document.getElementById("rollback");
  if (back) back.addEventListener("click", guarded(rollback));
  document.querySelectorAll("img.chart").forEach((img) => {
    const fallback = () => {
      const note = document.createElement("p");
      note.className = "error chart-unavailable";
      note.textContent = "chart unavailable (ClickHouse unavailable or busy)";
      img.replaceWith(note);
    };
    if (img.complete && img.naturalWidth === 0) fallback();
    else img.addEventListener("error", fallback);
  });
  document.body.dataset.ready = "1";
});
