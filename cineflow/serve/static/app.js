// The cineflow page: submit a job, follow it by server-sent events, play and list results.
// fetch() rather than EventSource/<video src>, so that an API key can travel in a header.
"use strict";
const $ = (id) => document.getElementById(id);
const state = { current: null, controller: null, urls: [] };

function headers(extra = {}) {
  const key = sessionStorage.getItem("cineflow-key") || "";
  return key ? { ...extra, Authorization: "Bearer " + key } : extra;
}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: headers(options.headers || {}) });
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try { message = (await response.json()).error.message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

function body() {
  const form = new FormData();
  for (const name of ["prompt", "negative_prompt", "size", "seconds", "steps", "guidance_scale", "seed"]) {
    const value = $(name).value.trim();
    if (value !== "") form.append(name, value);
  }
  const file = $("input_reference").files[0];
  if (file) { form.append("input_reference", file); return form; }
  const json = Object.fromEntries(form.entries());
  for (const k of ["seconds", "steps", "guidance_scale", "seed"]) if (k in json) json[k] = Number(json[k]);
  return JSON.stringify(json);
}

async function submit(event) {
  event.preventDefault();
  $("submit").disabled = true;
  try {
    const payload = body();
    const options = { method: "POST", body: payload };
    if (typeof payload === "string") options.headers = { "Content-Type": "application/json" };
    const video = await (await api("/v1/videos", options)).json();
    show(video);
    follow(video.id);
  } catch (e) {
    setStatus(e.message, true);
    $("submit").disabled = false;
  }
  refreshGallery();
}

function show(video) {
  $("progress").value = video.progress;
  const error = video.error ? ": " + video.error.message : "";
  setStatus(video.status.replace("_", " ") + " · " + video.progress + "%" + error, video.status === "failed");
}

// Read the event stream with fetch; fall back to polling when the stream breaks.
async function follow(id) {
  state.current = id;
  $("cancel").disabled = false;
  if (state.controller) state.controller.abort();
  state.controller = new AbortController();
  let last = null;
  try {
    const response = await api("/v1/videos/" + id + "/events", { signal: state.controller.signal });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        if (block.startsWith("event: video") && data) { last = JSON.parse(data); show(last); }
      }
    }
  } catch (e) {
    if (e.name === "AbortError") return;
  }
  while (!last || ["queued", "in_progress"].includes(last.status)) {  // stream ended early: poll
    await new Promise((r) => setTimeout(r, 1000));
    try { last = await (await api("/v1/videos/" + id)).json(); show(last); } catch (e) { setStatus(e.message, true); break; }
  }
  finish(last);
}

function finish(video) {
  $("submit").disabled = false;
  $("cancel").disabled = true;
  if (video && video.status === "completed") play(video);
  refreshGallery();
}

async function play(video) {
  try {
    const blob = await (await api("/v1/videos/" + video.id + "/content")).blob();
    const url = URL.createObjectURL(blob);
    state.urls.forEach((u) => URL.revokeObjectURL(u));
    state.urls = [url];
    $("player").src = url;
    $("player").play().catch(() => {});
    $("download").href = url;
    $("download").download = video.id + ".mp4";
    $("download").hidden = false;
    $("meta").textContent = video.size + " · " + video.num_frames + " frames · seed " + video.seed;
    $("player").dataset.videoId = video.id;
  } catch (e) {
    setStatus(e.message, true);
  }
}

async function cancel() {
  if (!state.current) return;
  try { show(await (await api("/v1/videos/" + state.current + "/cancel", { method: "POST" })).json()); }
  catch (e) { setStatus(e.message, true); }
}

async function refreshGallery() {
  let list;
  try { list = await (await api("/v1/videos?limit=24")).json(); } catch (e) { return; }
  const gallery = $("gallery");
  gallery.replaceChildren();
  for (const video of list.data) {
    const card = document.createElement("div");
    card.className = "card";
    card.dataset.videoId = video.id;
    const prompt = document.createElement("div");
    prompt.className = "prompt";
    prompt.textContent = video.prompt;  // textContent: a prompt is never HTML
    prompt.title = video.prompt;
    const badge = document.createElement("span");
    badge.className = "badge " + video.status;
    badge.textContent = video.status.replace("_", " ");
    const info = document.createElement("div");
    info.append(badge, " " + video.size + " · " + video.seconds + " s");
    card.append(prompt, info);
    if (video.status === "completed") card.addEventListener("click", () => play(video));
    gallery.append(card);
  }
}

$("apikey").value = sessionStorage.getItem("cineflow-key") || "";
$("apikey").addEventListener("change", () => { sessionStorage.setItem("cineflow-key", $("apikey").value); refreshGallery(); });
$("form").addEventListener("submit", submit);
$("cancel").addEventListener("click", cancel);
refreshGallery();
