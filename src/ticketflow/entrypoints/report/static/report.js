// The report's tables: sort by a heading, filter by text, one tenant in every table, pages of
// 25 rows. Texts are only ever read (textContent) and never written as HTML.
(function () {
  "use strict";
  var PAGE = 25;
  var redraws = [];
  var tenantFilter = "";
  var knownTenants = Array.prototype.map.call(
    document.querySelectorAll("#tenant-ids option"),
    function (option) { return option.value; }
  );

  // A known tenant id shows that tenant alone; anything else, the tenants whose id starts so.
  function matchesTenant(tenant) {
    return knownTenants.indexOf(tenantFilter) >= 0
      ? tenant === tenantFilter
      : tenant.indexOf(tenantFilter) === 0;
  }

  function key(row, index) {
    var cell = row.cells[index];
    if (!cell) { return ""; }
    var sort = cell.getAttribute("data-sort");
    return sort !== null ? sort : cell.textContent.trim();
  }

  function compare(a, b) {
    var numeric = /^-?\d+(\.\d+)?$/;
    if (numeric.test(a) && numeric.test(b)) { return parseFloat(a) - parseFloat(b); }
    if (a === b) { return 0; }
    if (a === "") { return 1; }
    if (b === "") { return -1; }
    return a < b ? -1 : 1;
  }

  function setup(box) {
    var table = box.querySelector("table.data");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var filter = box.querySelector("input.filter");
    var count = box.querySelector(".count");
    var pager = box.querySelector(".pager");
    var prev = pager.querySelector(".prev");
    var next = pager.querySelector(".next");
    var label = pager.querySelector(".page");
    var page = 0;

    function visible(row) {
      var tenant = row.getAttribute("data-tenant");
      if (tenantFilter && tenant !== null && !matchesTenant(tenant)) { return false; }
      var text = filter.value.trim().toLowerCase();
      return !text || row.textContent.toLowerCase().indexOf(text) >= 0;
    }

    function draw() {
      var shown = rows.filter(visible);
      var pages = Math.max(1, Math.ceil(shown.length / PAGE));
      page = Math.min(page, pages - 1);
      rows.forEach(function (row) { row.hidden = true; });
      shown.slice(page * PAGE, (page + 1) * PAGE).forEach(function (row) { row.hidden = false; });
      var noun = rows.length === 1 ? " row" : " rows";
      count.textContent = shown.length === rows.length
        ? rows.length + noun
        : shown.length + " of " + rows.length + noun;
      pager.hidden = pages < 2;
      label.textContent = "page " + (page + 1) + " of " + pages;
      prev.disabled = page === 0;
      next.disabled = page >= pages - 1;
    }

    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      th.title = "sort by " + th.textContent;
      th.tabIndex = 0;
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); th.click(); }
      });
      th.addEventListener("click", function () {
        var up = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(table.tHead.rows[0].cells, function (other) {
          other.removeAttribute("aria-sort");
        });
        th.setAttribute("aria-sort", up ? "ascending" : "descending");
        rows.sort(function (a, b) {
          var order = compare(key(a, index), key(b, index));
          return up ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
        page = 0;
        draw();
      });
    });
    filter.addEventListener("input", function () { page = 0; draw(); });
    prev.addEventListener("click", function () { page -= 1; draw(); });
    next.addEventListener("click", function () { page += 1; draw(); });
    redraws.push(function () { page = 0; draw(); });
    draw();
  }

  Array.prototype.forEach.call(document.querySelectorAll("div.table"), setup);

  var tenant = document.getElementById("tenant-filter");
  if (tenant) {
    tenant.addEventListener("input", function () {
      tenantFilter = tenant.value.trim();
      redraws.forEach(function (redraw) { redraw(); });
    });
  }
}());
