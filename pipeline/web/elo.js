// Elo browser client: sends the microphone to the bot over WebRTC and plays its voice.
// Plain JS with no external assets, so the page works offline. The signalling is one
// POST /api/offer carrying the complete offer (ICE candidates included), answered by the
// pipecat SmallWebRTC request handler.
"use strict";

(() => {
  const ICE_GATHERING_TIMEOUT_MS = 3000;
  const STATS_INTERVAL_MS = 500;

  const button = document.getElementById("toggle");
  const statusText = document.getElementById("status");
  const remoteAudio = document.getElementById("remote");

  // Read by people (status line) and by the browser test (window.elo).
  const elo = {
    state: "idle",
    error: null,
    stats: { bytesReceived: 0, packetsReceived: 0, totalAudioEnergy: 0, bytesSent: 0 },
    start,
    stop,
  };
  window.elo = elo;

  // The secret that lets this page start a call. It comes in the address after '#', which
  // browsers never send to a server (so it stays out of logs and Referer headers).
  const token = new URLSearchParams(window.location.hash.slice(1)).get("token") || "";

  // What the server's refusals mean for the person at the page.
  const REFUSALS = {
    401: "this link has no valid token: open the link Elo printed at start",
    403: "this address is not allowed: open the page by the link Elo printed",
    429: "too many attempts: wait a minute and try again",
    503: "Elo is busy with other calls: try again in a moment",
  };

  let pc = null;
  let microphone = null;
  let statsTimer = null;

  function setState(state, detail) {
    elo.state = state;
    statusText.textContent = detail ? `${state}: ${detail}` : state;
    button.textContent = state === "idle" || state === "stopped" || state === "error"
      ? "Start" : "Stop";
  }

  function waitForIceGathering(peer) {
    if (peer.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      // Send what we have after the timeout: host candidates arrive first and suffice locally.
      const timer = setTimeout(resolve, ICE_GATHERING_TIMEOUT_MS);
      peer.addEventListener("icegatheringstatechange", () => {
        if (peer.iceGatheringState === "complete") {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  async function pollStats() {
    if (!pc) return;
    const report = await pc.getStats();
    report.forEach((entry) => {
      if (entry.type === "inbound-rtp" && entry.kind === "audio") {
        elo.stats.bytesReceived = entry.bytesReceived || 0;
        elo.stats.packetsReceived = entry.packetsReceived || 0;
        // Energy of the decoded audio that was played out: stays ~0 for pure silence.
        elo.stats.totalAudioEnergy = entry.totalAudioEnergy || 0;
      } else if (entry.type === "outbound-rtp" && entry.kind === "audio") {
        elo.stats.bytesSent = entry.bytesSent || 0;
      }
    });
  }

  async function start() {
    if (pc) return;
    elo.error = null;
    setState("connecting");
    try {
      microphone = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
      pc = new RTCPeerConnection();
      // The bot reads the first transceiver as its audio in and answers on it.
      pc.addTransceiver(microphone.getAudioTracks()[0], { direction: "sendrecv" });
      pc.addEventListener("track", (event) => {
        remoteAudio.srcObject = event.streams[0] || new MediaStream([event.track]);
        remoteAudio.play().catch((err) => console.warn("autoplay blocked", err));
      });
      pc.addEventListener("connectionstatechange", () => {
        if (!pc) return;
        const state = pc.connectionState;
        if (state === "connected") setState("connected", "speak now");
        else if (state === "failed" || state === "closed") stop(`connection ${state}`);
      });

      await pc.setLocalDescription(await pc.createOffer());
      await waitForIceGathering(pc);
      const response = await fetch("/api/offer", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
        body: JSON.stringify({ sdp: pc.localDescription.sdp, type: pc.localDescription.type }),
      });
      if (!response.ok) {
        const why = REFUSALS[response.status] || "offer refused";
        throw new Error(`${why} (HTTP ${response.status})`);
      }
      const answer = await response.json();
      await pc.setRemoteDescription({ sdp: answer.sdp, type: answer.type });
      statsTimer = setInterval(() => pollStats().catch(() => {}), STATS_INTERVAL_MS);
    } catch (err) {
      elo.error = String(err);
      stop();
      setState("error", String(err.message || err));
    }
  }

  function stop(reason) {
    if (statsTimer) clearInterval(statsTimer);
    statsTimer = null;
    if (microphone) microphone.getTracks().forEach((track) => track.stop());
    microphone = null;
    if (pc) pc.close();
    pc = null;
    remoteAudio.srcObject = null;
    setState("stopped", reason);
  }

  button.addEventListener("click", () => (pc ? stop() : start()));
})();
