// Renders /api/openapi.json as a page: one section per tag, each operation
// with its parameters, request body and answers; schemas as JSON with their
// $refs resolved one level. Only textContent is written (no HTML from the
// document), and the script is a file of the web tier's own (CSP script-src 'self').
"use strict";

(function () {
  const root = document.getElementById("api");

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function resolve(doc, schema) {
    if (schema && schema.$ref && schema.$ref.startsWith("#/")) {
      let node = doc;
      for (const part of schema.$ref.slice(2).split("/")) node = node && node[part.replace(/~1/g, "/").replace(/~0/g, "~")];
      return { name: schema.$ref.split("/").pop(), schema: node };
    }
    return { name: null, schema: schema };
  }

  function schemaBlock(doc, schema) {
    const r = resolve(doc, schema);
    const wrap = el("div");
    if (r.name) wrap.appendChild(el("p", "Schema " + r.name + ":"));
    wrap.appendChild(el("pre", JSON.stringify(r.schema, null, 2)));
    return wrap;
  }

  function operation(doc, path, method, op) {
    const sec = el("section", null, "panel");
    sec.id = op.operationId || method + path;
    const h = el("h3");
    h.appendChild(el("code", method.toUpperCase() + " " + path));
    if (op.summary) h.appendChild(document.createTextNode(" " + op.summary));
    sec.appendChild(h);
    if (op.description) sec.appendChild(el("p", op.description));
    if (op.security && op.security.length) sec.appendChild(el("p", "Needs: Authorization: Bearer <ADMIN_TOKEN>."));
    if (op.parameters && op.parameters.length) {
      const t = el("table");
      const head = el("tr");
      for (const c of ["parameter", "in", "required", "description"]) head.appendChild(el("th", c));
      t.appendChild(head);
      for (const p of op.parameters) {
        const tr = el("tr");
        tr.appendChild(el("td", p.name));
        tr.appendChild(el("td", p.in));
        tr.appendChild(el("td", p.required ? "yes" : "no"));
        tr.appendChild(el("td", p.description || ""));
        t.appendChild(tr);
      }
      sec.appendChild(t);
    }
    if (op.requestBody) {
      sec.appendChild(el("h4", "Request body"));
      for (const [type, media] of Object.entries(op.requestBody.content || {})) {
        sec.appendChild(el("p", type));
        if (media.schema) sec.appendChild(schemaBlock(doc, media.schema));
      }
    }
    sec.appendChild(el("h4", "Answers"));
    const list = el("dl");
    for (const [status, resp] of Object.entries(op.responses || {})) {
      list.appendChild(el("dt", status));
      const dd = el("dd");
      dd.appendChild(el("p", resp.description || ""));
      for (const [type, media] of Object.entries(resp.content || {})) {
        dd.appendChild(el("p", type));
        if (media.schema && (media.schema.$ref || media.schema.properties)) dd.appendChild(schemaBlock(doc, media.schema));
      }
      list.appendChild(dd);
    }
    sec.appendChild(list);
    return sec;
  }

  function render(doc) {
    root.textContent = "";
    document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
    if (doc.info.description) root.appendChild(el("p", doc.info.description));
    const byTag = new Map();
    for (const t of doc.tags || []) byTag.set(t.name, { tag: t, ops: [] });
    for (const [path, item] of Object.entries(doc.paths || {})) {
      for (const [method, op] of Object.entries(item)) {
        const tag = (op.tags && op.tags[0]) || "other";
        if (!byTag.has(tag)) byTag.set(tag, { tag: { name: tag }, ops: [] });
        byTag.get(tag).ops.push([path, method, op]);
      }
    }
    const nav = el("ul");
    for (const { tag } of byTag.values()) {
      const li = el("li");
      const a = el("a", tag.name);
      a.href = "#tag-" + tag.name;
      li.appendChild(a);
      nav.appendChild(li);
    }
    root.appendChild(nav);
    for (const { tag, ops } of byTag.values()) {
      const h = el("h2", tag.name);
      h.id = "tag-" + tag.name;
      root.appendChild(h);
      if (tag.description) root.appendChild(el("p", tag.description));
      for (const [path, method, op] of ops) root.appendChild(operation(doc, path, method, op));
    }
  }

  fetch("/api/openapi.json", { headers: { Accept: "application/json" } })
    .then((r) => {
      if (!r.ok) throw new Error("GET /api/openapi.json: " + r.status);
      return r.json();
    })
    .then(render)
    .catch((e) => {
      root.textContent = "";
      root.appendChild(el("p", "The document could not be loaded: " + e.message));
    });
})();
