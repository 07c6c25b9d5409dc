#!/usr/bin/env node
// Ground-truth check for grok_magic.markdown: is this HTML inert in JupyterLab 4.6?
//
// Input (stdin): a JSON array of cases, or one JSON case per line (NDJSON, so the caller can
// stream cases while it is still producing them). A case is
//     {"id": "...", "html": "...", "allowed": ["https://..."], "facts": false}
// (an HTML output, inserted as JupyterLab inserts a trusted text/html output), or
//     {"id": "...", "markdown": "...", "allowed": [...], "facts": false}
// (a text/markdown output, rendered the way JupyterLab 4.6 renders Markdown: removeMath,
// marked with gfm + marked-gfm-heading-id + marked-mangle, replaceMath, innerHTML).
// Output (stdout, once stdin ends): {"cases": N, "findings": [{id, rule, detail}],
// "facts": {id: {...}}, "typeset": hosts MathJax ran on, "mathItems": expressions it typeset,
// "typesetErrors": [...], "notes": [{id, rule, detail}] (odd but not live)}; "facts" only for
// cases that asked for them.
//
// Nothing here shares code or rules with the Python renderer/sanitiser: the HTML is parsed by
// jsdom's HTML5 parser exactly as innerHTML would parse it, URLs are resolved by the WHATWG URL
// parser, and math is typeset by the real MathJax 3 with JupyterLab's own configuration.

import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

const require = createRequire(import.meta.url);
const { JSDOM, VirtualConsole, requestInterceptor } = require('jsdom');

// ---------------------------------------------------------------------------------------------
// The document: one jsdom window for all cases (each case gets a fresh host div).
// Scripts: "outside-only" (nothing the HTML carries runs by itself); every resource the
// document tries to fetch is recorded and never loaded.
const BASE_URL = 'https://lab.invalid/lab/tree/notebook.ipynb';
const attempts = []; // [{id, url, element}]
let currentId = null;

// Every request the document makes (scripts, stylesheets, frames, ...) is answered with an empty
// 404 here, before any network: it is only recorded, against the case whose host holds it.
const recorder = requestInterceptor((request, { element }) => {
  const host = element && element.closest ? element.closest('[data-inert-case]') : null;
  attempts.push({
    id: host ? host.getAttribute('data-inert-case') : currentId,
    url: request.url,
    element: element ? element.localName : ''
  });
  return new Response('', { status: 404 });
});

const virtualConsole = new VirtualConsole(); // swallow jsdom's own "not implemented" noise
const dom = new JSDOM('<!DOCTYPE html><html><head></head><body></body></html>', {
  url: BASE_URL,
  runScripts: 'outside-only',
  resources: { interceptors: [recorder] },
  pretendToBeVisual: false,
  virtualConsole
});
const { window } = dom;
const { document } = window;

// ---------------------------------------------------------------------------------------------
// MathJax 3 exactly as JupyterLab 4.6 sets it up. Facts copied from
// jupyterlab/jupyterlab, tag v4.6.3, packages/mathjax-extension/src/index.ts
// (Private.ensureMathDocument / createMathDocument; @jupyterlab/mathjax-extension depends on
// "mathjax-full": "^3.2.2", and JupyterLab 4.6.6's staging/yarn.lock resolves it to 3.2.2):
//   - modules: mathjax, output/chtml, input/tex, output/chtml/fonts/tex, input/tex/AllPackages,
//     ui/safe/SafeHandler, handlers/html/HTMLHandler, adaptors/browserAdaptor,
//     a11y/assistive-mml, and (imported for its side effect) input/tex/require/RequireConfiguration
//   - handler: AssistiveMmlHandler(SafeHandler(new HTMLHandler(browserAdaptor())))
//     (here the jsdom flavour of the same HTMLAdaptor, as the browser adaptor needs a window)
//   - output: new CHTML({ font: new EmptyFont() }), EmptyFont = TeXFont with defaultFonts = {}
//   - input: new TeX({ packages: AllPackages.concat('require'),
//                      inlineMath: [['$', '$'], ['\\(', '\\)']],
//                      displayMath: [['$$', '$$'], ['\\[', '\\]']],
//                      processEscapes: true, processEnvironments: true })
//     (dollarInlineMath defaults to true, so '$' stays an inline delimiter)
//   - document: mathjax.document(window.document, { InputJax: tex, OutputJax: chtml })
//   - typeset(node): doc.options.elements = [node]; doc.clear().render();
//     delete doc.options.elements; then hardenAnchorLinks (rel/target on '.MathJax a').
// All other MathJax options are MathJax's defaults (so ignoreHtmlClass 'mathjax_ignore',
// processHtmlClass 'mathjax_process', skipHtmlTags script/noscript/style/textarea/pre/code/...).
const { mathjax } = require('mathjax-full/js/mathjax.js');
require('mathjax-full/js/input/tex/require/RequireConfiguration.js');
const { CHTML } = require('mathjax-full/js/output/chtml.js');
const { TeX } = require('mathjax-full/js/input/tex.js');
const { TeXFont } = require('mathjax-full/js/output/chtml/fonts/tex.js');
const { AllPackages } = require('mathjax-full/js/input/tex/AllPackages.js');
const { SafeHandler } = require('mathjax-full/js/ui/safe/SafeHandler.js');
const { HTMLHandler } = require('mathjax-full/js/handlers/html/HTMLHandler.js');
const { JsdomAdaptor } = require('mathjax-full/js/adaptors/jsdomAdaptor.js');
const { AssistiveMmlHandler } = require('mathjax-full/js/a11y/assistive-mml.js');
const { CONFIG: LOADER_CONFIG } = require('mathjax-full/js/components/loader.js');

// In the browser, \require{x} of an allowed but not yet loaded extension makes MathJax's loader
// add <script src=".../input/tex/extensions/x.js"> to the page (loader.require is null there).
// Here that load is recorded as a resource attempt instead.
const mathjaxLoads = [];
LOADER_CONFIG.require = url => {
  mathjaxLoads.push({ id: currentId, url: String(url) });
  return Promise.reject(new Error('inert check: loading disabled'));
};
mathjax.asyncLoad = name => {
  mathjaxLoads.push({ id: currentId, url: String(name) });
  return Promise.reject(new Error('inert check: loading disabled'));
};

const adaptor = new JsdomAdaptor(window, {});
mathjax.handlers.register(AssistiveMmlHandler(SafeHandler(new HTMLHandler(adaptor))));

class EmptyFont extends TeXFont {}
EmptyFont.defaultFonts = {};

const chtml = new CHTML({ font: new EmptyFont() });
const tex = new TeX({
  packages: AllPackages.concat('require'),
  inlineMath: [
    ['$', '$'],
    ['\\(', '\\)']
  ],
  displayMath: [
    ['$$', '$$'],
    ['\\[', '\\]']
  ],
  processEscapes: true,
  processEnvironments: true
});
const mathDocument = mathjax.document(document, { InputJax: tex, OutputJax: chtml });

function typeset(node) {
  mathDocument.options.elements = [node];
  try {
    mathDocument.clear().render();
  } finally {
    delete mathDocument.options.elements;
  }
  // JupyterLab's hardenAnchorLinks: rel="noopener", target="_blank" on '.MathJax a'.
  for (const a of node.querySelectorAll('.MathJax a')) {
    a.rel = 'noopener';
    a.target = '_blank';
  }
  return Array.from(mathDocument.math);
}

// ---------------------------------------------------------------------------------------------
// Markdown as JupyterLab 4.6 renders text/markdown (trusted: no sanitiser). Facts copied from
// jupyterlab/jupyterlab v4.6.3: packages/markedparser-extension/src/index.ts (marked ^17.0.6
// used with marked.use(gfmHeadingId()), marked.use(mangle()) and options {async: true,
// gfm: true, walkTokens, renderer}; walkTokens/renderer only add CodeMirror highlighting and
// mermaid, which are left out here) and packages/rendermime/src/renderers.ts renderMarkdown
// (removeMath -> parser.render -> replaceMath -> renderHTML: innerHTML, then typeset).
// removeMath/replaceMath below are copied from packages/rendermime/src/latex.ts (BSD-3-Clause,
// Copyright (c) Jupyter Development Team; parts adapted from MathJax / StackExchange).
let markedInstance = null;
async function getMarked() {
  if (!markedInstance) {
    const { Marked } = await import('marked');
    const { gfmHeadingId } = await import('marked-gfm-heading-id');
    const { mangle } = await import('marked-mangle');
    markedInstance = new Marked();
    markedInstance.use(gfmHeadingId());
    markedInstance.use(mangle());
  }
  return markedInstance;
}

const MATHSPLIT =
  /(\$\$?|\\(?:begin|end)\{[a-z]*\*?\}|\\[{}$]|[{}]|(?:\n\s*)+|@@\d+@@|\\\\[()[\]])/i;

function removeMath(text) {
  const math = [];
  let start = null;
  let end = null;
  let last = null;
  let braces = 0;
  let deTilde;
  const hasCodeSpans = text.includes('`') || text.includes('~~~');
  if (hasCodeSpans) {
    text = text
      .replace(/~/g, '~T')
      .replace(/^(?<fence>`{3,}|(~T){3,})[^`\n]*\n([\s\S]*?)^\k<fence>`*$/gm, w => w.replace(/\$/g, '~D'))
      .replace(/(^|[^\\])(`+)([^\n]*?[^`\n])\2(?!`)/gm, w => w.replace(/\$/g, '~D'));
    deTilde = t => t.replace(/~([TD])/g, (w, c) => (c === 'T' ? '~' : '$'));
  } else {
    deTilde = t => t;
  }
  let blocks = text.replace(/\r\n?/g, '\n').split(MATHSPLIT);
  for (let i = 1, m = blocks.length; i < m; i += 2) {
    const block = blocks[i];
    if (block.charAt(0) === '@') {
      blocks[i] = '@@' + math.length + '@@';
      math.push(block);
    } else if (start !== null) {
      if (block === end) {
        if (braces) {
          last = i;
        } else {
          blocks = processMath(start, i, deTilde, math, blocks);
          start = null;
          end = null;
          last = null;
        }
      } else if (block.match(/\n.*\n/)) {
        if (last !== null) {
          i = last;
          blocks = processMath(start, i, deTilde, math, blocks);
        }
        start = null;
        end = null;
        last = null;
        braces = 0;
      } else if (block === '{') {
        braces++;
      } else if (block === '}' && braces) {
        braces--;
      }
    } else {
      if (block === '$' || block === '$$') {
        start = i;
        end = block;
        braces = 0;
      } else if (block === '\\\\(' || block === '\\\\[') {
        start = i;
        end = block.slice(-1) === '(' ? '\\\\)' : '\\\\]';
        braces = 0;
      } else if (block.substr(1, 5) === 'begin') {
        start = i;
        end = '\\end' + block.substr(6);
        braces = 0;
      }
    }
  }
  if (start !== null && last !== null) {
    blocks = processMath(start, last, deTilde, math, blocks);
  }
  return { text: deTilde(blocks.join('')), math };
}

function replaceMath(text, math) {
  const process = (match, n) => {
    let group = math[n];
    if (group.substr(0, 3) === '\\\\(' && group.substr(group.length - 3) === '\\\\)') {
      group = '\\(' + group.substring(3, group.length - 3) + '\\)';
    } else if (group.substr(0, 3) === '\\\\[' && group.substr(group.length - 3) === '\\\\]') {
      group = '\\[' + group.substring(3, group.length - 3) + '\\]';
    }
    return group;
  };
  return text.replace(/@@(\d+)@@/g, process);
}

function processMath(i, j, preProcess, math, blocks) {
  let block = blocks
    .slice(i, j + 1)
    .join('')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
  while (j > i) {
    blocks[j] = '';
    j--;
  }
  blocks[i] = '@@' + math.length + '@@';
  if (preProcess) {
    block = preProcess(block);
  }
  math.push(block);
  return blocks;
}

async function markdownToHtml(source) {
  if (!source) return '';
  const marked = await getMarked();
  const parts = removeMath(source);
  const html = await marked.parse(parts.text, { async: true, gfm: true });
  return replaceMath(html, parts.math);
}

// ---------------------------------------------------------------------------------------------
// The rules. Each is about what the browser would do with the DOM, not about how it was made.
const FORBIDDEN_ELEMENTS = new Set([
  'script', 'iframe', 'svg', 'math', 'object', 'embed', 'form', 'style', 'meta', 'link', 'base',
  'frame', 'frameset', 'input', 'button', 'textarea', 'select', 'video', 'audio', 'source',
  'track', 'applet', 'noscript', 'template', 'portal', 'picture', 'image', 'dialog', 'details',
  'marquee', 'slot', 'canvas', 'map', 'area', 'param', 'object', 'noembed', 'noframes', 'xmp',
  'plaintext', 'isindex', 'keygen', 'fencedframe', 'search'
]);
// Attributes whose value the browser treats as a URL (fetches it, navigates to it, submits to it).
const URL_ATTRIBUTES = [
  'href', 'src', 'action', 'formaction', 'xlink:href', 'poster', 'data', 'background', 'cite',
  'ping', 'codebase', 'longdesc', 'lowsrc', 'dynsrc', 'manifest', 'icon', 'profile', 'usemap'
];
const BAD_SCHEMES = ['javascript:', 'vbscript:', 'data:'];
const LINK_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);
// Pygments' inline styles (noclasses) use only these properties.
const CODE_STYLE_PROPERTIES = new Set([
  'color', 'background-color', 'font-weight', 'font-style', 'text-decoration', 'border',
  'border-color', 'border-style', 'border-width'
]);

function plainScheme(value) {
  // What the URL parser sees: control chars/whitespace are stripped or ignored, case folded.
  return String(value).replace(/[\u0000-\u0020\u007f-\u009f\u00a0\u1680\u2000-\u200d\u2028\u2029\u202f\u205f\u3000\ufeff]/g, '').toLowerCase();
}

function resolve(value) {
  try {
    return new URL(value, BASE_URL); // Node's WHATWG URL parser, as in browsers
  } catch (e) {
    return null;
  }
}

function describe(el) {
  const html = el.outerHTML || '';
  return html.length > 300 ? html.slice(0, 300) + '…' : html;
}

// One walk over the host's subtree; ctx says what the element is inside of.
//   ctx.mj: inside MathJax output (mjx-container); ctx.assistive: inside mjx-assistive-mml;
//   ctx.code: inside pre or code; ctx.vetted: inside a .grok-math element.
function checkElement(el, ctx, add, allowed, phase, contract) {
  const name = el.localName;
  const mj = ctx.mj;
  const assistive = ctx.assistive;
  const ns = el.namespaceURI;
  // MathJax's own output: mjx-* elements, and the MathML copy in mjx-assistive-mml.
  if (FORBIDDEN_ELEMENTS.has(name) && !(assistive && ns === 'http://www.w3.org/1998/Math/MathML')) {
    add('forbidden-element', `<${name}> ${describe(el)}`);
  }
  if (ns !== 'http://www.w3.org/1999/xhtml' && !assistive) {
    add('foreign-element', `${ns} <${name}>`);
  }
  const attrs = el.attributes;
  for (let i = 0; i < attrs.length; i++) {
    const attr = attrs[i];
    const an = attr.name.toLowerCase();
    const v = attr.value;
    if (an.startsWith('on')) add('event-handler', `${an}=${JSON.stringify(v)} on <${name}>`);
    if (an === 'srcset' || an === 'imagesrcset') add('srcset', `${an}=${JSON.stringify(v)} on <${name}>`);
    if (an === 'formaction' || an === 'form' || an === 'http-equiv') add('form-or-meta', `${an} on <${name}>`);
    if (an === 'is') add('custom-element', `is=${JSON.stringify(v)}`);
    if (URL_ATTRIBUTES.includes(an) || an.endsWith(':href')) {
      const scheme = plainScheme(v);
      if (BAD_SCHEMES.some(b => scheme.startsWith(b))) {
        add('bad-url-scheme', `${an}=${JSON.stringify(v)} on <${name}>`);
      }
      const u = resolve(v);
      if (u && BAD_SCHEMES.includes(u.protocol)) add('bad-url-scheme', `${an} resolves to ${u.protocol}`);
      if (an === 'href' && name === 'a') {
        if (!u || !LINK_PROTOCOLS.has(u.protocol)) {
          add('link-scheme', `a href=${JSON.stringify(v)} -> ${u ? u.protocol : 'unparsable'}`);
        }
      } else if (!(an === 'src' && name === 'img')) {
        add('url-attribute', `${an}=${JSON.stringify(v)} on <${name}>`);
      }
    }
    if (an === 'style') {
      const low = plainScheme(v);
      if (/url\(|image\(|image-set\(|expression\(|@import|behavior|binding|\\/.test(low)) {
        add('style-resource', `style=${JSON.stringify(v)} on <${name}>`);
      }
      if (!mj) {
        // Pygments' inline colours on spans in code, and GFM's column alignment on th/td.
        const decls = v.split(';').map(d => d.trim()).filter(Boolean);
        const align = (name === 'th' || name === 'td') &&
          decls.every(d => /^text-align\s*:\s*(left|right|center)$/i.test(d));
        const codeSpan = name === 'span' && ctx.code && el.parentElement && el.parentElement.closest('pre, code');
        if (!align && !codeSpan) add('style-attribute', `style=${JSON.stringify(v)} on <${name}>`);
        for (const decl of decls) {
          const prop = decl.split(':')[0].trim().toLowerCase();
          if (!CODE_STYLE_PROPERTIES.has(prop) && !(align && prop === 'text-align')) {
            add('style-property', `${prop} in ${JSON.stringify(v)} on <${name}>`);
          }
        }
      }
    }
    if (mj && phase === 'after') {
      if (an === 'id') add('mathjax-id', `id=${JSON.stringify(v)} (\\cssId) on <${name}>`);
      if (an.startsWith('data-') && !/^data-(mjx-|semantic-)/.test(an)) add('mathjax-data', `${an} on <${name}>`);
    }
    if (contract && phase === 'before') {
      if (an === 'class' && /(^|\s)mathjax_process(\s|$)/.test(v) && !/(^|\s)grok-math(\s|$)/.test(v)) {
        add('process-class', `mathjax_process on ${describe(el)}`);
      }
      if (an === 'data-mjx') add('process-class', `data-MJX on <${name}>`);
    }
  }
  if (name === 'img') {
    const src = el.getAttribute('src');
    if (src !== null) {
      const u = resolve(src);
      // The same URL as one the user sent: literally, or once both are parsed (a renderer may
      // percent-encode it, which the browser would do anyway before fetching).
      const same = allowed.includes(src) || (u && allowed.some(a => {
        const ua = resolve(a);
        return ua && ua.href === u.href;
      }));
      if (!same) {
        add('image-not-allowed', `img src=${JSON.stringify(src)} (allowed: ${JSON.stringify(allowed)})`);
      } else if (!u || !/^https?:$/.test(u.protocol)) {
        add('image-not-allowed', `img src=${JSON.stringify(src)} resolves to ${u && u.href}`);
      }
    }
  }
  if (name === 'a' && mj) add('mathjax-link', `MathJax made a link (\\href): ${describe(el)}`);
  if (contract && phase === 'after' && name === 'mjx-container' && !ctx.vetted) {
    add('math-outside-vetted', `mjx-container outside .grok-math: ${describe(el)}`);
  }
}

function walk(el, ctx, add, allowed, phase, contract) {
  for (let child = el.firstElementChild; child; child = child.nextElementSibling) {
    const name = child.localName;
    const inner = {
      mj: ctx.mj || name === 'mjx-container',
      assistive: ctx.assistive || name === 'mjx-assistive-mml',
      code: ctx.code || name === 'pre' || name === 'code',
      vetted: ctx.vetted || child.classList.contains('grok-math')
    };
    checkElement(child, inner, add, allowed, phase, contract);
    walk(child, inner, add, allowed, phase, contract);
    // <template> content is a separate fragment (inert, but check it too)
    if (name === 'template' && child.content) walk(child.content, inner, add, allowed, phase, contract);
  }
}

// MathJax's internal MathML tree: attributes that only \href, \style, \bbox[style], \class,
// \cssId, \data, \mmlToken-like macros set. MathJax's own layout never sets these.
const MML_FORBIDDEN_ATTRIBUTES = ['href', 'style', 'class', 'id', 'src', 'xlink:href', 'fontfamily'];
function checkMathItems(items, host, add, note, contract) {
  for (const item of items) {
    const root = item.root;
    if (!root) continue;
    const stack = [root];
    while (stack.length) {
      const node = stack.pop();
      if (node.attributes && typeof node.attributes.getExplicitNames === 'function') {
        for (const an of node.attributes.getExplicitNames()) {
          const v = node.attributes.get(an);
          // data-mjx-* are MathJax's own (e.g. data-mjx-error on a TeX error); \data makes others
          if (MML_FORBIDDEN_ATTRIBUTES.includes(an) || (an.startsWith('data-') && !an.startsWith('data-mjx-'))) {
            add('mathjax-attribute', `${an}=${JSON.stringify(String(v))} on ${node.kind} in ${JSON.stringify(item.math)}`);
          } else if (/url\(|image\(|expression\(|javascript:|vbscript:|data:/i.test(plainScheme(v))) {
            // e.g. \color{red;background:url(...)} as mathcolor. Not live: CHTML sets it as the CSS
            // color, which rejects it, and MathML's mathcolor is parsed as a colour too (the DOM
            // checks above would see a url( that got through). So a note, not a finding.
            note('mathjax-attribute-url', `${an}=${JSON.stringify(String(v))} on ${node.kind} in ${JSON.stringify(item.math)}`);
          }
        }
      }
      if (node.kind === 'mglyph') add('mathjax-mglyph', `mglyph in ${JSON.stringify(item.math)}`);
      if (node.childNodes) for (const c of node.childNodes) if (c) stack.push(c);
    }
    const start = item.start && item.start.node;
    const el = start && (start.nodeType === 1 ? start : start.parentElement);
    if (contract && el && host.contains(el) && !el.closest('.grok-math')) {
      add('math-outside-vetted', `MathJax typeset ${JSON.stringify(item.math)} outside a .grok-math element`);
    }
  }
}

function checkHost(host, add, allowed, phase, contract) {
  walk(host, { mj: false, assistive: false, code: false, vetted: false }, add, allowed, phase, contract);
  if (contract && phase === 'before') {
    // The whole answer sits in one mathjax_ignore wrapper; nothing outside it (else MathJax
    // would typeset it).
    for (const node of Array.from(host.childNodes)) {
      if (node.nodeType === 3 && !node.data.trim()) continue;
      if (node.nodeType === 8) continue;
      const cls = node.nodeType === 1 ? ` ${node.getAttribute('class') || ''} ` : '';
      if (!/\smathjax_ignore\s/.test(cls)) {
        const what = node.nodeType === 1 ? '<' + node.localName + '>' : JSON.stringify(node.textContent.slice(0, 80));
        add('outside-wrapper', `top-level ${what} is not in a mathjax_ignore wrapper`);
      }
    }
  }
}

function facts(host) {
  const q = s => host.querySelectorAll(s);
  const count = s => q(s).length;
  return {
    headings: [1, 2, 3, 4, 5, 6].map(n => count(`h${n}`)),
    lists: count('ul, ol'),
    items: count('li'),
    tables: count('table'),
    th: count('th'),
    td: count('td'),
    strong: count('strong, b'),
    em: count('em, i'),
    del: count('del, s'),
    pre: count('pre'),
    code: count('code'),
    highlighted: count('pre span[class], pre span[style]'),
    links: Array.from(q('a[href]')).map(a => a.href),
    images: Array.from(q('img')).map(i => i.getAttribute('src')),
    math: count('.grok-math mjx-container'),
    mathErrors: count('mjx-merror'),
    text: host.textContent.slice(0, 2000)
  };
}

// ---------------------------------------------------------------------------------------------
async function runCase(c, report) {
  const id = String(c.id);
  const allowed = Array.isArray(c.allowed) ? c.allowed.map(String) : [];
  const seen = new Set();
  const add = (rule, detail) => {
    const key = rule + '\u0000' + detail;
    if (!seen.has(key)) {
      seen.add(key);
      report.findings.push({ id, rule, detail });
    }
  };
  const note = (rule, detail) => report.notes.push({ id, rule, detail });
  // grok_magic's own contract for its HTML (one mathjax_ignore wrapper, math only in vetted
  // .grok-math elements) does not apply to Markdown, which JupyterLab typesets everywhere.
  const contract = typeof c.markdown !== 'string';
  currentId = id;
  const nLoads = mathjaxLoads.length;
  window.__pwned = undefined;
  let html = c.html;
  if (typeof c.markdown === 'string') {
    try {
      html = await markdownToHtml(c.markdown);
    } catch (e) {
      add('markdown-error', String(e && e.stack || e));
      return;
    }
  }
  const host = document.createElement('div');
  host.className = 'jp-RenderedHTMLCommon jp-RenderedHTML jp-OutputArea-output';
  host.setAttribute('data-inert-case', id);
  document.body.appendChild(host);
  try {
    host.innerHTML = String(html);
    checkHost(host, add, allowed, 'before', contract);
    // JupyterLab evaluates <script> tags of trusted HTML outputs (evalInnerHTMLScriptTags).
    for (const s of Array.from(host.getElementsByTagName('script'))) {
      try {
        window.eval(s.textContent);
      } catch (e) {
        // a broken script is still a script (already reported)
      }
    }
    let items = [];
    try {
      // MathJax only starts math at these (TeX delimiters, \begin with processEnvironments, \ref
      // and \eqref with processRefs): with none of them in the text it would find nothing, so
      // skip it (MathJax costs about 2 ms per expression here).
      if (/\$|\\[([]|\\begin|\\(?:eq)?ref/.test(host.textContent)) {
        items = typeset(host);
        report.typeset++;
        report.mathItems += items.length;
      }
    } catch (e) {
      // A MathJax retry (\require) or a bug; the DOM is still checked.
      report.typesetErrors.push({ id, error: String(e && e.message || e) });
      items = Array.from(mathDocument.math);
    }
    checkMathItems(items, host, add, note, contract);
    checkHost(host, add, allowed, 'after', contract);
    if (window.__pwned !== undefined) add('script-ran', `window.__pwned = ${window.__pwned}`);
    for (const l of mathjaxLoads.slice(nLoads)) add('mathjax-load', `MathJax tried to load ${l.url}`);
    if (c.facts) report.facts[id] = facts(host);
  } finally {
    host.remove();
    currentId = null;
  }
}

// MathJax's loader rejects promises nobody waits for when a load is refused; that is expected.
process.on('unhandledRejection', () => {});

async function main() {
  const report = { cases: 0, typeset: 0, mathItems: 0, findings: [], notes: [], facts: {}, typesetErrors: [] };
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  let buffered = null; // a JSON array document, collected whole
  for await (const line of rl) {
    if (buffered !== null) {
      buffered.push(line);
      continue;
    }
    const t = line.trim();
    if (!t) continue;
    if (t.startsWith('[')) {
      buffered = [line];
      continue;
    }
    report.cases++;
    await runCase(JSON.parse(t), report);
  }
  if (buffered !== null) {
    for (const c of JSON.parse(buffered.join('\n'))) {
      report.cases++;
      await runCase(c, report);
    }
  }
  // Requests start asynchronously: give them a moment, then report every one.
  await new Promise(resolve => setTimeout(resolve, 100));
  for (const a of attempts) {
    report.findings.push({ id: a.id, rule: 'resource-fetch', detail: `<${a.element}> requested ${a.url}` });
  }
  process.stdout.write(JSON.stringify(report));
}

main().catch(e => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(2);
});
