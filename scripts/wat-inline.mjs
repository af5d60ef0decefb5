// Inlines small WAT helper functions into their callers before compiling.
//
// V8 in Node 20 does not inline WebAssembly calls (its --wasm-inlining is off by default), and a call
// from a SIMD loop spills every live v128 register around it: the binary16 conversions ran 1.5 to 2
// times slower as calls than written out in the loop. Writing them out by hand at every call site would
// repeat each helper a dozen times, so helpers marked `;; @inline` on the line before their `(func`
// are expanded here instead: each call becomes a `(block (result T) ...)` with the helper's parameters
// and locals renamed into fresh locals of the caller.
//
// A helper may hold only `param`, one `result`, `local` and folded instructions whose last one is the
// result; no labels, no `return`, no calls to other inlined helpers, and no read of a local before the
// helper has set it (a call starts with zeroed locals, an inlined copy inside a loop would not).

/** Splits WAT into nested arrays of atoms, without comments. */
export function parseWat(text) {
  const tokens = text
    .replace(/\(;[\s\S]*?;\)/g, ' ')
    .replace(/;;[^\n]*/g, ' ')
    .match(/"(?:[^"\\]|\\.)*"|[()]|[^\s()"]+/g) ?? [];
  const root = [];
  const stack = [root];
  for (const token of tokens) {
    if (token === '(') {
      const list = [];
      stack[stack.length - 1].push(list);
      stack.push(list);
    } else if (token === ')') {
      if (stack.length === 1) throw new Error('wat-inline: unbalanced ")"');
      stack.pop();
    } else {
      stack[stack.length - 1].push(token);
    }
  }
  if (stack.length !== 1) throw new Error('wat-inline: unbalanced "("');
  return root;
}

/** The text of parsed WAT: one top-level form a line, each function on its own line. */
export function printWat(nodes) {
  const print = (node) => (Array.isArray(node) ? `(${node.map(print).join(' ')})` : node);
  return nodes.map(print).join('\n');
}

const DECLARATIONS = new Set(['export', 'import', 'param', 'result', 'local', 'type']);

function isDeclaration(node) {
  return Array.isArray(node) && DECLARATIONS.has(node[0]);
}

/** Reads a helper's signature and body, refusing what inlining cannot preserve. */
function describeHelper(func, inlined) {
  const name = func[1];
  const params = [];
  const locals = [];
  let result;
  const body = [];
  for (const node of func.slice(2)) {
    if (isDeclaration(node) && node[0] === 'param') params.push(declaredLocal(node, name));
    else if (isDeclaration(node) && node[0] === 'local') locals.push(declaredLocal(node, name));
    else if (isDeclaration(node) && node[0] === 'result') result = node.slice(1).join(' ');
    else if (isDeclaration(node)) throw new Error(`wat-inline: ${name} cannot be inlined: it has (${node[0]} ...)`);
    else body.push(node);
  }
  if (result === undefined || body.length === 0) throw new Error(`wat-inline: ${name} must return one value`);
  const assigned = new Set(params.map((param) => param.name));
  for (const instruction of body) checkInstruction(instruction, name, assigned, inlined);
  return { name, params, locals, result, body };
}

function declaredLocal(node, helper) {
  if (node.length !== 3 || !node[1].startsWith('$')) {
    throw new Error(`wat-inline: ${helper} must declare each param and local as ($name type)`);
  }
  return { name: node[1], type: node[2] };
}

/** Walks one folded instruction in evaluation order: operands first, then the instruction itself. */
function checkInstruction(node, helper, assigned, inlined) {
  if (!Array.isArray(node)) return;
  const [op, ...rest] = node;
  if (['block', 'loop', 'if', 'br', 'br_if', 'br_table', 'return'].includes(op)) {
    throw new Error(`wat-inline: ${helper} cannot be inlined: it uses ${op}`);
  }
  if (op === 'call' && inlined.has(rest[0])) throw new Error(`wat-inline: ${helper} calls the inlined helper ${rest[0]}`);
  for (const operand of rest) checkInstruction(operand, helper, assigned, inlined);
  if (op === 'local.get' && !assigned.has(rest[0])) {
    throw new Error(`wat-inline: ${helper} reads ${rest[0]} before setting it`);
  }
  if (op === 'local.set' || op === 'local.tee') assigned.add(rest[0]);
}

function renameLocals(node, names) {
  if (!Array.isArray(node)) return node;
  if ((node[0] === 'local.get' || node[0] === 'local.set' || node[0] === 'local.tee') && names.has(node[1])) {
    return [node[0], names.get(node[1]), ...node.slice(2).map((child) => renameLocals(child, names))];
  }
  return node.map((child) => renameLocals(child, names));
}

/** Replaces the calls to `helpers` inside `node`, adding the locals they need to `newLocals`. */
function expandCalls(node, helpers, newLocals, counter) {
  if (!Array.isArray(node)) return node;
  const expanded = node.map((child) => expandCalls(child, helpers, newLocals, counter));
  if (expanded[0] !== 'call' || !helpers.has(expanded[1])) return expanded;
  const helper = helpers.get(expanded[1]);
  const args = expanded.slice(2);
  if (args.length !== helper.params.length) {
    throw new Error(`wat-inline: ${helper.name} takes ${helper.params.length} arguments, a call passes ${args.length}`);
  }
  const suffix = `__${helper.name.slice(1)}_${counter.next++}`;
  const names = new Map();
  for (const local of [...helper.params, ...helper.locals]) {
    const renamed = `${local.name}${suffix}`;
    names.set(local.name, renamed);
    newLocals.push(['local', renamed, local.type]);
  }
  return [
    'block', ['result', helper.result],
    ...helper.params.map((param, index) => ['local.set', names.get(param.name), args[index]]),
    ...helper.body.map((instruction) => renameLocals(instruction, names)),
  ];
}

/** The WAT text with every call to a `;; @inline` helper written out in its caller. */
export function inlineHelpers(text) {
  const marked = new Set([...text.matchAll(/;;\s*@inline\s*\n\s*\(func\s+(\$[^\s()]+)/g)].map((match) => match[1]));
  if (marked.size === 0) return text;
  const [module, ...others] = parseWat(text);
  if (others.length > 0 || !Array.isArray(module) || module[0] !== 'module') throw new Error('wat-inline: expected one (module ...)');
  const helpers = new Map();
  for (const node of module) {
    if (Array.isArray(node) && node[0] === 'func' && marked.has(node[1])) helpers.set(node[1], describeHelper(node, marked));
  }
  const missing = [...marked].filter((name) => !helpers.has(name));
  if (missing.length > 0) throw new Error(`wat-inline: no function ${missing.join(', ')}`);
  const counter = { next: 0 };
  const output = module.map((node) => {
    if (!Array.isArray(node) || node[0] !== 'func') return node;
    const newLocals = [];
    const declarations = node.slice(0, 2).concat(node.slice(2).filter(isDeclaration));
    const instructions = node.slice(2).filter((child) => !isDeclaration(child))
      .map((instruction) => expandCalls(instruction, helpers, newLocals, counter));
    return [...declarations, ...newLocals, ...instructions];
  });
  return printWat([output]);
}
