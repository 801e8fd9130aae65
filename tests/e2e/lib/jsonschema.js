// jsonschema.js - a small JSON Schema validator for the e2e tests (the
// subset ragd compiles to grammars: type (and type lists), properties,
// required, additionalProperties, enum, const, items, minItems, maxItems,
// minLength, maxLength, anyOf/oneOf, $ref to #/$defs or #/definitions).
// validate(schema, value) returns a list of errors ([] when valid).
'use strict';
function typeOf(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}
function resolve(root, ref) {
  if (!ref.startsWith('#/')) throw new Error('unsupported $ref ' + ref);
  return ref.slice(2).split('/').reduce((o, k) => o[k], root);
}
function validate(schema, v, root = schema, path = '$') {
  const errs = [];
  if (schema === true || schema === undefined) return errs;
  if (schema === false) return [path + ': schema false'];
  if (schema.$ref) return validate(resolve(root, schema.$ref), v, root, path);
  const t = typeOf(v);
  if (schema.type !== undefined) {
    const types = [].concat(schema.type);
    const ok = types.some((x) => x === t || (x === 'number' && t === 'integer'));
    if (!ok) return [`${path}: type ${t}, expected ${types.join('|')}`];
  }
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(v)))
    errs.push(`${path}: ${JSON.stringify(v)} not in enum`);
  if ('const' in schema && JSON.stringify(schema.const) !== JSON.stringify(v))
    errs.push(`${path}: not the const`);
  for (const k of ['anyOf', 'oneOf']) {
    if (schema[k]) {
      const n = schema[k].filter((s) => validate(s, v, root, path).length === 0).length;
      if (k === 'anyOf' ? n === 0 : n !== 1) errs.push(`${path}: ${k} matched ${n}`);
    }
  }
  if (t === 'string') {
    const n = [...v].length;
    if (schema.minLength !== undefined && n < schema.minLength) errs.push(`${path}: shorter than minLength`);
    if (schema.maxLength !== undefined && n > schema.maxLength) errs.push(`${path}: longer than maxLength`);
  }
  if (t === 'array') {
    if (schema.minItems !== undefined && v.length < schema.minItems) errs.push(`${path}: fewer than minItems`);
    if (schema.maxItems !== undefined && v.length > schema.maxItems) errs.push(`${path}: more than maxItems`);
    if (schema.items) v.forEach((x, i) => errs.push(...validate(schema.items, x, root, `${path}[${i}]`)));
  }
  if (t === 'object') {
    const props = schema.properties || {};
    for (const r of schema.required || []) if (!(r in v)) errs.push(`${path}: missing required ${r}`);
    for (const [k, x] of Object.entries(v)) {
      if (k in props) errs.push(...validate(props[k], x, root, `${path}.${k}`));
      else if (schema.additionalProperties === false) errs.push(`${path}: unexpected property ${k}`);
      else if (typeof schema.additionalProperties === 'object')
        errs.push(...validate(schema.additionalProperties, x, root, `${path}.${k}`));
    }
  }
  return errs;
}
module.exports = {validate};
