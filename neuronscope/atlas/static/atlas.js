// Search by unit id ("layer:unit"; with InceptionV1 "3b:379" is short for "mixed3b:379", the model's
// layer prefix), from the index in search.js.
(function () {
  "use strict";
  var form = document.getElementById("search");
  if (!form) return;
  var root = document.body.getAttribute("data-root") || "";
  var box = document.getElementById("search-box");
  var msg = document.getElementById("search-msg");

  function find(text) {
    var m = /^\s*([^:\s]+)\s*:\s*(\d+)\s*$/.exec(text);
    if (!m) return { error: "expected layer:unit, e.g. " + Object.keys(window.ATLAS_UNITS)[0] + ":0" };
    var layer = m[1], unit = parseInt(m[2], 10), units = window.ATLAS_UNITS;
    var prefix = window.ATLAS_PREFIX || "";
    if (!(layer in units) && prefix && (prefix + layer) in units) layer = prefix + layer;
    if (!(layer in units)) return { error: "no layer " + layer + " in this atlas" };
    if (units[layer].indexOf(unit) < 0) return { error: layer + ":" + unit + " is not in this atlas" };
    return { href: root + "units/" + layer + "/" + unit + ".html" };
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var found = find(box.value);
    if (found.href) {
      window.location.href = found.href;
    } else {
      msg.textContent = found.error;
    }
  });
})();
