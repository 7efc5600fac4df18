// Live parts of a page (dashboard/live.py): each element with data-live="URL" shows the HTML
// fragments the server sends on that server-sent-events stream. The server renders and escapes
// them; the browser only places them.
"use strict";
for (const element of document.querySelectorAll("[data-live]")) {
  const source = new EventSource(element.dataset.live);
  source.onmessage = (event) => {
    element.innerHTML = event.data;
    element.dataset.liveUpdates = String(Number(element.dataset.liveUpdates || 0) + 1);
  };
  source.onerror = () => element.setAttribute("aria-busy", "true");
  source.onopen = () => element.removeAttribute("aria-busy");
}
