/**
 * Each endpoint's parameters as Stripe's API reference lists them, checked the way Stripe checks
 * them: an unknown parameter (at any depth) is `parameter_unknown`, a missing required one
 * `parameter_missing`, an empty string where the parameter cannot be unset `parameter_invalid_empty`,
 * a non-number `parameter_invalid_integer`; booleans are `true`/`false`; `metadata[k]=` unsets one
 * key and `metadata=` all of them; `expand` is an array of strings.
 */
import { invalidParameter, missingParameter, unknownParameter } from './errors.js';
import type { FormHash, FormValue } from './form.js';

export type Spec =
  | { t: 'string'; required?: boolean; emptyable?: boolean; enum?: readonly string[]; max?: number }
  | { t: 'boolean'; required?: boolean }
  | { t: 'integer'; required?: boolean; emptyable?: boolean; min?: number; max?: number }
  | { t: 'hash'; required?: boolean; emptyable?: boolean; fields: Record<string, Spec> }
  | { t: 'metadata' }
  | { t: 'array'; of: Spec; required?: boolean };

export type Checked = string | number | boolean | null | Checked[] | { [k: string]: Checked };
export type Params = Record<string, Checked>;

/** `expand` and the pagination parameters every list endpoint takes. */
export const EXPAND: Record<string, Spec> = { expand: { t: 'array', of: { t: 'string' } } };
export const PAGINATION: Record<string, Spec> = {
  limit: { t: 'integer', min: 1, max: 100 },
  starting_after: { t: 'string' },
  ending_before: { t: 'string' },
};

export function checkParams(raw: FormHash, fields: Record<string, Spec>): Params {
  return checkHash(raw, fields, '') as Params;
}

function shown(prefix: string, key: string): string {
  return prefix === '' ? key : `${prefix}[${key}]`;
}

function checkHash(raw: FormHash, fields: Record<string, Spec>, prefix: string): { [k: string]: Checked } {
  const out: { [k: string]: Checked } = {};
  for (const key of Object.keys(raw)) {
    if (!Object.hasOwn(fields, key)) throw unknownParameter(shown(prefix, key));
  }
  for (const [key, spec] of Object.entries(fields)) {
    const name = shown(prefix, key);
    const v = raw[key];
    if (v === undefined) {
      if ('required' in spec && spec.required) throw missingParameter(name);
      continue;
    }
    out[key] = checkValue(v, spec, name);
  }
  return out;
}

const emptyError = (name: string) =>
  invalidParameter(name, `You passed an empty string for '${name}'. We assume empty values are an attempt to unset a parameter; however '${name}' cannot be unset. You should remove '${name}' from your request or supply a non-empty value.`, 'parameter_invalid_empty');

function checkValue(v: FormValue, spec: Spec, name: string): Checked {
  switch (spec.t) {
    case 'string': {
      if (typeof v !== 'string') throw invalidParameter(name, `Invalid string: ${name} must be a string, not a hash or an array`);
      if (v === '') {
        if (spec.emptyable) return null;
        throw emptyError(name);
      }
      if (spec.enum && !spec.enum.includes(v)) throw invalidParameter(name, `Invalid ${name}: must be one of ${spec.enum.join(', ')}`);
      if (spec.max !== undefined && v.length > spec.max) throw invalidParameter(name, `Invalid ${name}: must be at most ${spec.max} characters`);
      return v;
    }
    case 'boolean': {
      if (v === 'true') return true;
      if (v === 'false') return false;
      if (v === '') throw emptyError(name);
      throw invalidParameter(name, `Invalid boolean: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
    }
    case 'integer': {
      if (v === '') {
        if (spec.emptyable) return null;
        throw emptyError(name);
      }
      if (typeof v !== 'string' || !/^-?\d+$/.test(v)) throw invalidParameter(name, `Invalid integer: ${typeof v === 'string' ? v : JSON.stringify(v)}`, 'parameter_invalid_integer');
      const n = Number(v);
      if (spec.min !== undefined && n < spec.min) throw invalidParameter(name, `This value must be greater than or equal to ${spec.min}.`, 'parameter_invalid_integer');
      if (spec.max !== undefined && n > spec.max) throw invalidParameter(name, `This value must be less than or equal to ${spec.max}.`, 'parameter_invalid_integer');
      return n;
    }
    case 'hash': {
      if (v === '') {
        if (spec.emptyable) return null;
        throw emptyError(name);
      }
      if (typeof v === 'string' || Array.isArray(v)) throw invalidParameter(name, `Invalid object: ${name} must be a hash (${name}[key]=value)`);
      return checkHash(v, spec.fields, name);
    }
    case 'metadata': {
      if (v === '') return null; // unset every key
      if (typeof v === 'string' || Array.isArray(v)) throw invalidParameter(name, `Invalid object: ${name} must be a hash (${name}[key]=value)`);
      const out: { [k: string]: Checked } = {};
      const keys = Object.keys(v);
      if (keys.length > 50) throw invalidParameter(name, 'Invalid metadata: metadata can have at most 50 keys');
      for (const k of keys) {
        const val = v[k];
        if (typeof val !== 'string') throw invalidParameter(`${name}[${k}]`, `Invalid string: ${name}[${k}] must be a string`);
        if (k.length > 40) throw invalidParameter(`${name}[${k}]`, `Invalid metadata: keys can be at most 40 characters long (${k})`);
        if (val.length > 500) throw invalidParameter(`${name}[${k}]`, `Invalid metadata: values can be at most 500 characters long (${k})`);
        out[k] = val === '' ? null : val;
      }
      return out;
    }
    case 'array': {
      if (!Array.isArray(v)) throw invalidParameter(name, `Invalid array: ${name} must be an array (${name}[0]=…)`);
      return v.map((x, i) => checkValue(x, spec.of, `${name}[${i}]`));
    }
  }
}
