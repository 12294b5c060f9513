// The one script of our own: a live log stays on its newest line while the reader is there.
(function () {
  function follow() {
    document.querySelectorAll(".log").forEach(function (log) {
      if (log.dataset.follow !== "no") log.scrollTop = log.scrollHeight;
    });
  }
  document.addEventListener("scroll", function (event) {
    var log = event.target;
    if (log.classList && log.classList.contains("log")) {
      var atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
      log.dataset.follow = atEnd ? "yes" : "no";
    }
  }, true);
  document.addEventListener("htmx:sseMessage", follow);
  document.addEventListener("htmx:load", follow);
  document.addEventListener("DOMContentLoaded", follow);
})();
