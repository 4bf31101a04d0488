/**
 * A small, strict XML well-formedness check for the SVG tests: one root element, balanced and
 * properly nested tags, quoted and unique attributes, only the predefined or numeric entities,
 * no raw `<` or `&` in text or attribute values. Returns the elements for queries.
 */

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  /** The element's own text (entities decoded), not its children's. */
  text: string;
  children: XmlElement[];
}

const NAME = /^[A-Za-z_:][A-Za-z0-9_:.-]*/;
const ENTITY = /&(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);/g;

function checkEntities(s: string, where: string): string {
  const stripped = s.replace(ENTITY, '');
  if (stripped.includes('&')) throw new Error(`bad entity or raw & in ${where}: ${JSON.stringify(s.slice(0, 80))}`);
  if (stripped.includes('<')) throw new Error(`raw < in ${where}`);
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#x([0-9A-Fa-f]+);/g, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#([0-9]+);/g, (_, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&amp;/g, '&');
}

/** Parses `xml`, throwing on the first well-formedness error; returns the root element. */
export function parseXml(xml: string): XmlElement {
  let i = 0;
  const s = xml;
  if (s.startsWith('<?xml')) {
    const end = s.indexOf('?>');
    if (end < 0) throw new Error('unterminated XML declaration');
    i = end + 2;
  }
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  while (i < s.length) {
    const lt = s.indexOf('<', i);
    const chunk = lt < 0 ? s.slice(i) : s.slice(i, lt);
    if (chunk.length) {
      if (stack.length === 0) {
        if (chunk.trim() !== '') throw new Error(`text outside the root element: ${JSON.stringify(chunk.slice(0, 40))}`);
      } else {
        stack[stack.length - 1]!.text += checkEntities(chunk, 'text');
      }
    }
    if (lt < 0) break;
    i = lt;
    if (s.startsWith('<!--', i)) {
      const end = s.indexOf('-->', i + 4);
      if (end < 0) throw new Error('unterminated comment');
      i = end + 3;
      continue;
    }
    if (s.startsWith('</', i)) {
      const m = NAME.exec(s.slice(i + 2));
      if (!m) throw new Error(`bad closing tag at ${i}`);
      const j = i + 2 + m[0].length;
      const close = s.indexOf('>', j);
      if (close < 0 || s.slice(j, close).trim() !== '') throw new Error(`bad closing tag </${m[0]} at ${i}`);
      const open = stack.pop();
      if (!open || open.name !== m[0]) throw new Error(`</${m[0]}> closes ${open ? `<${open.name}>` : 'nothing'} at ${i}`);
      i = close + 1;
      continue;
    }
    const m = NAME.exec(s.slice(i + 1));
    if (!m) throw new Error(`bad tag at ${i}: ${JSON.stringify(s.slice(i, i + 20))}`);
    const el: XmlElement = { name: m[0], attrs: {}, text: '', children: [] };
    i += 1 + m[0].length;
    for (;;) {
      const ws = /^\s*/.exec(s.slice(i))![0].length;
      i += ws;
      if (s.startsWith('/>', i)) {
        i += 2;
        attach(el, stack, root, (r) => (root = r), false);
        break;
      }
      if (s[i] === '>') {
        i += 1;
        attach(el, stack, root, (r) => (root = r), true);
        break;
      }
      if (ws === 0) throw new Error(`no space before attribute in <${el.name}> at ${i}`);
      const a = /^([A-Za-z_:][A-Za-z0-9_:.-]*)\s*=\s*("([^"]*)"|'([^']*)')/.exec(s.slice(i));
      if (!a) throw new Error(`bad attribute in <${el.name}> at ${i}: ${JSON.stringify(s.slice(i, i + 30))}`);
      if (Object.hasOwn(el.attrs, a[1]!)) throw new Error(`duplicate attribute ${a[1]} in <${el.name}>`);
      el.attrs[a[1]!] = checkEntities(a[3] ?? a[4] ?? '', `attribute ${a[1]} of <${el.name}>`);
      i += a[0].length;
    }
  }
  if (stack.length) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  if (!root) throw new Error('no root element');
  return root;

  function attach(el: XmlElement, st: XmlElement[], r: XmlElement | undefined, setRoot: (e: XmlElement) => void, open: boolean): void {
    if (st.length === 0) {
      if (r) throw new Error(`second root element <${el.name}>`);
      setRoot(el);
    } else {
      st[st.length - 1]!.children.push(el);
    }
    if (open) st.push(el);
  }
}

/** Every element under (and including) `el`, depth first. */
export function elements(el: XmlElement): XmlElement[] {
  return [el, ...el.children.flatMap(elements)];
}

/** All text of the document's `<text>` and `<title>` elements. */
export function texts(root: XmlElement): string[] {
  return elements(root)
    .filter((e) => e.name === 'text' || e.name === 'title')
    .map((e) => e.text);
}
