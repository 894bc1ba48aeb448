/* visits (走访): where the phone is, for the visit forms (Alpine, CSP build), and the supervisor's map of
   visited and not visited households (Leaflet). */
(function () {
  "use strict";

  document.addEventListener("alpine:init", function () {
    // Fills the form's hidden lng / lat / accuracy_m (WGS-84, as the browser reports it), unless they already
    // hold a location (a correction keeps the one recorded). No location: the visit is saved without one.
    window.Alpine.data("visitLocation", function () {
      return {
        status: "",
        init: function () {
          var self = this;
          var form = self.$el;
          var lng = form.querySelector("input[name=lng]");
          var lat = form.querySelector("input[name=lat]");
          var accuracy = form.querySelector("input[name=accuracy_m]");
          var note = form.querySelector(".location");
          var text = function (key) { return note ? note.dataset[key] || "" : ""; };
          if (!lng || !lat) { return; }
          if (lng.value && lat.value) { self.status = text("kept"); return; }
          if (!navigator.geolocation) { self.status = text("unavailable"); return; }
          self.status = text("locating");
          navigator.geolocation.getCurrentPosition(function (pos) {
            lng.value = pos.coords.longitude.toFixed(7);
            lat.value = pos.coords.latitude.toFixed(7);
            if (accuracy) { accuracy.value = Math.round(pos.coords.accuracy); }
            self.status = text("located").replace("{m}", Math.round(pos.coords.accuracy));
          }, function () {
            self.status = text("unavailable");
          }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
        }
      };
    });
  });

  function drawVisitMap(el) {
    if (!window.L || el.dataset.drawn) { return; }
    el.dataset.drawn = "1";
    var map = window.L.map(el, { attributionControl: false, preferCanvas: true });
    if (el.dataset.tileUrl) { window.L.tileLayer(el.dataset.tileUrl, { maxZoom: 18 }).addTo(map); }
    map.setView([33.5, 110.9], 9);
    fetch(el.dataset.url, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var noteEl = el.parentNode.querySelector(".map-note");
        if (data.too_many) {
          el.hidden = true;
          var legend = el.parentNode.querySelector(".legend");
          if (legend) { legend.hidden = true; }
          if (noteEl) { noteEl.textContent = el.dataset.tooMany; noteEl.hidden = false; }
          return;
        }
        var layer = window.L.geoJSON(data, {
          pointToLayer: function (f, latlng) {
            var visited = f.properties.visited;
            return window.L.circleMarker(latlng, { radius: 5, weight: 1, color: "#fff", fillOpacity: 0.9,
                                                    fillColor: visited ? "#2e7d32" : "#c62828" });
          },
          onEachFeature: function (f, l) {
            l.bindTooltip(f.properties.number + " · " + (f.properties.visited ? el.dataset.visited : el.dataset.notVisited));
            l.on("click", function () { window.location.href = "../households/" + f.properties.id + "/"; });
          }
        }).addTo(map);
        var bounds = layer.getBounds();
        if (bounds.isValid()) { map.fitBounds(bounds, { padding: [12, 12], maxZoom: 17 }); }
        el.dataset.points = String(data.features.length);
      });
  }

  window.addEventListener("load", function () {
    var el = document.getElementById("visit-map");
    if (el) { drawVisitMap(el); }
  });
})();
