// Drag and drop onto the file fields: an enhancement only; the forms post normally without it.
document.querySelectorAll("[data-drop]").forEach(function (zone) {
  var input = document.getElementById(zone.getAttribute("data-drop"));
  zone.querySelectorAll(".js-only").forEach(function (el) { el.hidden = false; });
  zone.addEventListener("dragover", function (e) { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
  zone.addEventListener("drop", function (e) {
    e.preventDefault();
    zone.classList.remove("over");
    if (input && e.dataTransfer && e.dataTransfer.files.length) { input.files = e.dataTransfer.files; }
  });
});
