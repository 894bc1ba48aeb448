/* gridgov page behaviour: the area map (Leaflet) and the mobile menu (Alpine, CSP build). */
(function () {
  "use strict";

  document.addEventListener("alpine:init", function () {
    window.Alpine.data("menu", function () {
      return { open: false, toggle: function () { this.open = !this.open; } };
    });
  });

  function drawAreaMap(el) {
    if (!window.L || el.dataset.drawn) { return; }
    el.dataset.drawn = "1";
    var map = window.L.map(el, { attributionControl: false, zoomSnap: 0.25 });
    var tiles = el.dataset.tileUrl;
    if (tiles) { window.L.tileLayer(tiles, { maxZoom: 18 }).addTo(map); }
    fetch(el.dataset.geojsonUrl, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var layer = window.L.geoJSON(data, {
          style: function (f) {
            var self = f.properties.role === "self";
            return { color: self ? "#b71c1c" : "#1565c0", weight: self ? 3 : 1.5,
                     fillOpacity: self ? 0.04 : 0.12 };
          },
          onEachFeature: function (f, l) {
            if (f.properties.role === "child") {
              l.bindTooltip(f.properties.name, { permanent: false });
              l.on("click", function () { window.location.href = "../" + encodeURIComponent(f.properties.code) + "/"; });
            }
          }
        }).addTo(map);
        var bounds = layer.getBounds();
        if (bounds.isValid()) { map.fitBounds(bounds, { padding: [10, 10] }); }
      });
  }

  function init() {
    var el = document.getElementById("area-map");
    if (el) { drawAreaMap(el); }
  }
  window.addEventListener("load", init);
})();
