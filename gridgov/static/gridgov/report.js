/* gridgov public pages (随手拍): the report form, the place picker (Leaflet), "this is my problem too" and the
   tracking code's copy button. Alpine components for the CSP build: no inline code, messages come from data-*
   attributes so that they are translated by the server. */
(function () {
  "use strict";

  function fill(template, values) {
    return String(template || "").replace(/%\((\w+)\)s/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : whole;
    });
  }

  // A report form restored from the back-forward cache would send its old client key again, and the server
  // would take the new report for a retry of the one already filed: load a fresh form instead.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && document.querySelector("form.pub-form input[name=client_key]")) {
      window.location.reload();
    }
  });

  document.addEventListener("alpine:init", function () {
    var Alpine = window.Alpine;

    /* The whole form: one submit only, and an early word on too many or too large photos. */
    Alpine.data("reportForm", function () {
      return {
        submitting: false,
        count: 0,
        countText: "",
        fileWarning: "",
        submit: function (event) {
          if (this.submitting) { event.preventDefault(); return; }
          this.submitting = true;
        },
        checkFiles: function (event) {
          var data = this.$root.dataset;
          var files = event.target.files || [];
          var max = parseInt(data.maxFiles, 10);
          var maxBytes = parseInt(data.maxMb, 10) * 1024 * 1024;
          var problems = [];
          this.count = files.length;
          this.countText = fill(data.msgCount, { count: files.length });
          if (files.length > max) { problems.push(fill(data.msgTooMany, { count: max })); }
          for (var i = 0; i < files.length; i++) {
            var f = files[i];
            if (f.size > maxBytes) { problems.push(fill(data.msgTooLarge, { name: f.name, mb: data.maxMb })); }
            if (/\.(heic|heif)$/i.test(f.name) || /hei[cf]/i.test(f.type)) { problems.push(data.msgHeic); }
          }
          this.fileWarning = problems.filter(function (p, k) { return problems.indexOf(p) === k; }).join(" ");
        }
      };
    });

    /* The place: tap the map, or the phone's own position (the browser gives WGS-84 everywhere, also in China). */
    Alpine.data("place", function () {
      var map = null;
      var marker = null;
      var data = {};
      var outlined = false;
      return {
        status: "",
        marked: false,
        init: function () {
          var self = this;
          data = this.$root.dataset;
          this.status = data.msgHint;
          if (!window.L) { return; }
          map = window.L.map(this.$refs.map, { attributionControl: false, zoomSnap: 0.5 });
          map.createPane("pick").style.zIndex = 700;  // the marked place stays above the towns' labels
          if (data.tileUrl) { window.L.tileLayer(data.tileUrl, { maxZoom: 18 }).addTo(map); }
          map.setView([34.0, 108.9], 5);
          map.on("click", function (e) { self.mark(e.latlng.lat, e.latlng.lng, null); });
          var lng = parseFloat(this.$refs.lng.value);
          var lat = parseFloat(this.$refs.lat.value);
          var hasPoint = isFinite(lng) && isFinite(lat);
          fetch(data.outlinesUrl, { credentials: "same-origin" })
            .then(function (r) { return r.ok ? r.json() : null; })
            .then(function (geojson) {
              if (!geojson || !geojson.features || !geojson.features.length) { return; }
              var layer = window.L.geoJSON(geojson, {
                interactive: false,
                style: function (f) {
                  var top = f.properties.depth <= 4;
                  return { color: top ? "#b71c1c" : "#1565c0", weight: top ? 2.5 : 1, fillOpacity: top ? 0.03 : 0.06 };
                },
                onEachFeature: function (f, l) {
                  if (f.properties.depth > 4) {
                    l.bindTooltip(f.properties.name, { permanent: true, direction: "center", className: "pub-map-label" });
                  }
                }
              }).addTo(map);
              var bounds = layer.getBounds();
              if (bounds.isValid()) {
                outlined = true;
                if (!hasPoint) { map.fitBounds(bounds, { padding: [8, 8] }); }
              }
            })
            .catch(function () { /* no outlines: the map still takes taps */ });
          if (hasPoint) { this.mark(lat, lng, null); }
          window.setTimeout(function () { map.invalidateSize(); }, 200);
        },
        mark: function (lat, lng, accuracy) {
          if (!map) { return; }
          lat = Math.round(lat * 1e6) / 1e6;
          lng = Math.round(lng * 1e6) / 1e6;
          if (marker) { marker.setLatLng([lat, lng]); } else {
            marker = window.L.circleMarker([lat, lng], { pane: "pick", radius: 10, color: "#fff", weight: 3, fillColor: "#c62828", fillOpacity: 1 }).addTo(map);
          }
          // With tiles, come close. Without them only the outlines of the county and its towns are drawn:
          // keep them in view and only move to the point.
          var near = data.tileUrl ? 16 : (outlined ? map.getZoom() : 12);
          if (map.getZoom() < near) { map.setView([lat, lng], near); } else { map.panTo([lat, lng]); }
          this.$refs.lng.value = lng;
          this.$refs.lat.value = lat;
          this.marked = true;
          this.status = fill(data.msgSet, { lat: lat.toFixed(5), lng: lng.toFixed(5) }) +
            (accuracy ? " " + fill(data.msgAccuracy, { m: Math.round(accuracy) }) : "");
          document.body.dispatchEvent(new CustomEvent("place-changed"));
        },
        locate: function () {
          var self = this;
          if (!navigator.geolocation) { this.status = data.msgUnsupported; return; }
          this.status = data.msgLocating;
          navigator.geolocation.getCurrentPosition(function (pos) {
            self.mark(pos.coords.latitude, pos.coords.longitude, pos.coords.accuracy);
          }, function () {
            self.status = data.msgDenied;
          }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
        },
        clear: function () {
          if (marker) { marker.remove(); marker = null; }
          this.$refs.lng.value = "";
          this.$refs.lat.value = "";
          this.marked = false;
          this.status = data.msgHint;
          document.body.dispatchEvent(new CustomEvent("place-changed"));
        }
      };
    });

    /* "This is my problem too": it only tells the resident that the problem is already being followed up. */
    Alpine.data("metoo", function () {
      return { done: false, confirm: function () { this.done = true; } };
    });

    Alpine.data("copyCode", function () {
      var root = null;
      return {
        label: "",
        init: function () {
          root = this.$root;
          this.label = root.querySelector("button").textContent;
        },
        copy: function () {
          var self = this;
          var code = root.dataset.code;
          var done = function () { self.label = root.dataset.msgCopied; };
          if (navigator.clipboard && window.isSecureContext) {
            navigator.clipboard.writeText(code).then(done, function () { self.select(); });
          } else {
            this.select();
          }
        },
        select: function () {
          var range = document.createRange();
          range.selectNodeContents(root.querySelector(".pub-code-text"));
          var selection = window.getSelection();
          selection.removeAllRanges();
          selection.addRange(range);
        }
      };
    });
  });
})();
