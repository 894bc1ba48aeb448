/* gridgov cases: the pin on the case page and the point picker of the hotline form (Leaflet, no inline code). */
(function () {
  "use strict";

  var PIN = { radius: 8, color: "#b71c1c", weight: 2, fillColor: "#e53935", fillOpacity: 0.9 };
  var AREA = { color: "#1565c0", weight: 1.5, fillOpacity: 0.08 };

  function baseMap(el) {
    var map = window.L.map(el, { attributionControl: false, zoomSnap: 0.25 });
    var tiles = el.dataset.tileUrl;
    if (tiles) { window.L.tileLayer(tiles, { maxZoom: 18 }).addTo(map); }
    return map;
  }

  function drawCaseMap(el) {
    var lng = parseFloat(el.dataset.lng), lat = parseFloat(el.dataset.lat);
    if (isNaN(lng) || isNaN(lat)) { return; }
    var map = baseMap(el);
    var holder = el.dataset.geometry && document.getElementById(el.dataset.geometry);
    var area = null;
    if (holder) {
      try { area = window.L.geoJSON(JSON.parse(holder.textContent), { style: AREA }); } catch (e) { area = null; }
    }
    var bounds = area ? area.getBounds() : null;
    if (bounds && bounds.isValid()) {
      bounds.extend([lat, lng]);
      map.fitBounds(bounds, { padding: [20, 20], maxZoom: 16 });
    } else {
      map.setView([lat, lng], 15);
    }
    if (area) { area.addTo(map); }
    window.L.circleMarker([lat, lng], PIN).addTo(map);
  }

  function number(input) {
    var v = input ? parseFloat(input.value) : NaN;
    return isNaN(v) ? null : v;
  }

  function drawPicker(el) {
    var lngInput = document.getElementById("id_lng"), latInput = document.getElementById("id_lat");
    if (!lngInput || !latInput) { return; }
    var map = baseMap(el);
    var marker = null;
    function place(lat, lng) {
      if (marker) { marker.setLatLng([lat, lng]); } else { marker = window.L.circleMarker([lat, lng], PIN).addTo(map); }
    }
    function fromInputs(fit) {
      var lng = number(lngInput), lat = number(latInput);
      if (lng === null || lat === null) { return false; }
      if (fit) { map.setView([lat, lng], 14); }
      place(lat, lng);
      return true;
    }
    map.on("click", function (e) {
      lngInput.value = e.latlng.lng.toFixed(6);
      latInput.value = e.latlng.lat.toFixed(6);
      place(e.latlng.lat, e.latlng.lng);
      lngInput.dispatchEvent(new Event("change", { bubbles: true }));
    });
    lngInput.addEventListener("change", function () { fromInputs(false); });
    latInput.addEventListener("change", function () { fromInputs(false); });
    var hasPoint = fromInputs(true);
    var url = el.dataset.geojsonUrl;
    if (!url) {
      if (!hasPoint) { map.setView([35, 105], 4); }
      return;
    }
    if (!hasPoint) { map.setView([35, 105], 4); }
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { type: "FeatureCollection", features: [] }; })
      .then(function (data) {
        var layer = window.L.geoJSON(data, {
          style: function (f) {
            return f.properties.role === "self" ? { color: "#b71c1c", weight: 2.5, fillOpacity: 0.02 } : AREA;
          },
          onEachFeature: function (f, l) {
            if (f.properties.role === "child") { l.bindTooltip(f.properties.name); }
          }
        }).addTo(map);
        var bounds = layer.getBounds();
        if (!hasPoint && bounds.isValid()) { map.fitBounds(bounds, { padding: [10, 10] }); }
      })
      .catch(function () { return null; });
  }

  // A suggested number fills the input it names (merge: the original's number).
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("button.fill[data-fill]");
    if (!button) { return; }
    var input = document.getElementById(button.dataset.fill);
    if (input) { input.value = button.dataset.value; input.focus(); }
  });

  function init() {
    if (!window.L) { return; }
    var pin = document.getElementById("case-map");
    if (pin) { drawCaseMap(pin); }
    var picker = document.getElementById("pick-map");
    if (picker) { drawPicker(picker); }
  }
  window.addEventListener("load", init);
})();
