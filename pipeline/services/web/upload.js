// Staff upload form: send with the token as a Bearer header, show the receipt, then poll for the report.
"use strict";
(function () {
  const form = document.getElementById("upload");
  const out = document.getElementById("result");
  if (!form || !window.fetch) return;
  const say = (html) => { out.innerHTML = html; };
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = document.getElementById("token").value.trim();
    const data = new FormData();
    data.append("period", document.getElementById("period").value.trim().toUpperCase());
    data.append("file", document.getElementById("file").files[0]);
    const auth = { Authorization: "Bearer " + token };
    say("<p>Skickar …</p>");
    const response = await fetch("/api/v1/submissions", { method: "POST", body: data, headers: auth });
    const body = await response.json();
    if (response.status !== 201) { say("<p class='error'>" + esc(body.message || body.error) + "</p>"); return; }
    say("<p>Filen är mottagen och sparad. Inlämnings-id <b>" + esc(body.submission_id) + "</b>, version " +
      esc(body.version) + ".</p><p id='wait'>Väntar på valideringsrapporten …</p>");
    for (let i = 0; i < 900; i++) {
      await new Promise((r) => setTimeout(r, 4000));
      const report = await fetch(body.report_url, { headers: auth });
      if (report.ok) {
        const frame = document.createElement("iframe");
        frame.setAttribute("sandbox", "");
        frame.style.cssText = "width:100%;height:600px;border:1px solid #d5dbe3";
        frame.srcdoc = await report.text();
        document.getElementById("wait").replaceWith(frame);
        return;
      }
    }
  });
})();
