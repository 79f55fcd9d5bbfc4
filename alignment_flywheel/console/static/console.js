// Review console: decisions, browser-side Ed25519 signing of patches and stable rollbacks,
// chart fallbacks. Private key files are read and used only here (WebCrypto); the server sees
// the signatures and key ids.
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

async function signingKey(file, extractable) {
  if (!window.crypto || !crypto.subtle) {
    throw new Error("WebCrypto needs a secure context: open the console over HTTPS or localhost");
  }
  const der = pemToDer(await file.text());
  return crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, extractable, ["sign"]);
}

async function keyIdOf(key) {
  // The key id is the hex SHA-256 of the raw public key (JWK "x", base64url).
  const jwk = await crypto.subtle.exportKey("jwk", key);
  const raw = b64ToBytes(jwk.x.replace(/-/g, "+").replace(/_/g, "/"));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", raw));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sign(button) {
  const id = button.dataset.patch;
  const input = document.getElementById("key-" + id);
  if (!input.files.length) throw new Error("choose your approver key file first");
  const key = await signingKey(input.files[0], false);
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

async function rollbackSignatures(request) {
  // The releaser key files the operator picked, each signing the server's rollback bytes.
  const files = Array.from(document.getElementById("rollback-key").files);
  if (files.length < request.signatures_needed) {
    throw new Error("rolling back the stable version needs " + request.signatures_needed +
      " releaser signature(s): choose your releaser key file first");
  }
  const bytes = b64ToBytes(request.pae);
  return Promise.all(files.map(async (file) => {
    const key = await signingKey(file, true);
    const signature = await crypto.subtle.sign({ name: "Ed25519" }, key, bytes);
    return { key_id: await keyIdOf(key), signature: bytesToB64(signature) };
  }));
}

async function rollbackStable(reason) {
  const request = await postJson("/console/api/releases/rollback/signing-request", {
    reason: reason,
    stable: true,
  });
  const signatures = request.signatures_needed > 0 ? await rollbackSignatures(request) : [];
  const signed = signatures.length ? "\nSigned body SHA-256: " + request.body_sha256 : "";
  if (!confirm("Roll back the STABLE version v" + request.version + " (release " +
    request.release_id + ") to v" + request.restored_version + "?" + signed)) {
    return null;
  }
  return postJson("/console/api/releases/rollback", {
    reason: reason,
    stable: true,
    signatures: signatures,
    body_sha256: request.body_sha256,
  });
}

async function rollback() {
  const reason = document.getElementById("rollback-reason").value;
  const stable = document.getElementById("rollback-stable").checked;
  let data;
  if (stable) {
    data = await rollbackStable(reason);
  } else if (confirm("Withdraw the candidate release?")) {
    data = await postJson("/console/api/releases/rollback", { reason: reason, stable: false });
  }
  if (!data) {
    showStatus("rollback cancelled", true);
    return;
  }
  const signed = data.signatures ? ", signed by " + data.signatures + " key(s)" : "";
  const by = data.operator ? " by " + data.operator : "";
  done("rolled back v" + data.version + by + "; v" + data.restored_version + " restored" + signed);
}

async function chartReason(url) {
  // The server says why a chart cannot be drawn (no data stored yet, ClickHouse busy or down).
  try {
    const response = await fetch(url, { credentials: "same-origin" });
    const data = await response.json();
    return errorText(data, response);
  } catch (error) {
    return "the console did not answer (" + error.message + ")";
  }
}

async function promote(button) {
  const target = button.dataset.target;
  if (!confirm("Promote v" + button.dataset.version + " to " + target + "?")) {
    showStatus("promotion cancelled", true);
    return;
  }
  const data = await postJson("/console/api/releases/promote", {
    release_id: button.dataset.release,
    stage: button.dataset.stage,
  });
  done("promoted v" + data.version + " from " + data.from_stage + " to " + data.to_stage +
    " by " + data.actor);
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
  const forward = document.getElementById("promote");
  if (forward) forward.addEventListener("click", guarded(promote));
  const back = document.getElementById("rollback");
  if (back) back.addEventListener("click", guarded(rollback));
  document.querySelectorAll("img.chart").forEach((img) => {
    let replaced = false;
    const fallback = async () => {
      if (replaced) return;
      replaced = true;
      const note = document.createElement("p");
      note.className = "error chart-unavailable";
      note.textContent = "chart unavailable: " + (await chartReason(img.src));
      img.replaceWith(note);
    };
    if (img.complete && img.naturalWidth === 0) fallback();
    else img.addEventListener("error", fallback);
  });
  document.body.dataset.ready = "1";
});
