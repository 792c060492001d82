/**
 * `custctl certificate keygen|verify|show`: the site's certificate signing key, and the signed
 * deletion and erasure certificates (src/domain/certificate.ts). `verify` checks the signature
 * with the site's public key and, with database access, that the audit chain holds the row the
 * certificate cites (that hash, that content) and verifies up to it.
 */
import { readFile } from 'node:fs/promises';
import { Command, Option } from '@commander-js/extra-typings';
import type { KeyObject } from 'node:crypto';
import type { Deps } from '../deps.js';
import {
  certificateHtml, certificateText, parseSignedCertificate, shortKey, verifyCertificateSignature,
  type CertificateSubject, type SignatureCheck,
} from '../domain/certificate.js';
import { UsageError } from '../errors.js';
import { outputOption, print, view, writeStyled, type OutputFormat } from '../output/print.js';
import { styled } from '../output/text.js';
import { visibleLines } from '../domain/visible.js';
import type { AuditBacking } from '../pipeline/certificate.js';

export interface VerifyReport {
  file: string;
  ok: boolean;
  certificate: { subject: CertificateSubject; customerId: string; job: string | null; issuer: string; issuedAt: string; audit: { seq: string; hash: string; action: string; at: string } };
  signature: { ok: boolean; keyId: string; publicKey: string; problem?: string };
  audit: AuditBacking | { checked: false; ok: false; problems: string[]; notes: string[] };
}

async function readCertificate(file: string) {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return parseSignedCertificate(text);
  } catch (e) {
    throw new UsageError(`${file} is not a custctl certificate: ${(e as Error).message}`);
  }
}

/** The key to verify with: --public-key, else the site's own signing key (its public half). */
async function verifyingKey(d: Deps, flag: string | undefined): Promise<{ key: KeyObject; source: string }> {
  const { loadPublicKey, loadSigningKey } = await import('../adapters/secret-files.js');
  if (flag !== undefined) return { key: await loadPublicKey(flag), source: flag };
  const site = d.config().signingKeyFile;
  if (site) return { key: await loadSigningKey(site), source: `CUSTCTL_SIGNING_KEY_FILE ${site}` };
  throw new UsageError('which key? pass --public-key FILE (the site\'s published public key), or set CUSTCTL_SIGNING_KEY_FILE on the site itself', [
    'A certificate does not carry its key: a key it carried would prove only that someone signed it.',
  ]);
}

/** The database, when one is configured; none: the audit part is not checked (and the report says so). */
async function auditStoreIfConfigured(d: Deps) {
  const c = d.config();
  if (c.apiUrl) return { store: null, why: 'the audit chain is read from the customers database, not through the queue API: run without --api-url, with DATABASE_URL' };
  const { chooseStore } = await import('../adapters/open-store.js');
  try {
    chooseStore({ store: c.store, databaseUrl: c.databaseUrl, env: d.env, simulate: false });
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    return { store: null, why: 'no customers database configured (DATABASE_URL): the audit chain was not checked' };
  }
  return { store: await d.store(), why: '' };
}

export async function runCertificateVerify(d: Deps, o: { file: string; publicKey?: string; output: OutputFormat }, setExit: (code: number) => void): Promise<VerifyReport> {
  const doc = await readCertificate(o.file);
  const { key, source } = await verifyingKey(d, o.publicKey);
  const sig: SignatureCheck = verifyCertificateSignature(doc, key);
  const c = doc.certificate;
  let audit: VerifyReport['audit'] = { checked: false, ok: false, problems: [], notes: [] };
  if (sig.ok) {
    const { store, why } = await auditStoreIfConfigured(d);
    if (store) {
      const { auditBacking } = await import('../pipeline/certificate.js');
      audit = await auditBacking(store, c);
    } else {
      audit.notes.push(why);
    }
  } else {
    audit.notes.push('not checked: the signature does not verify');
  }
  const ok = sig.ok && (!audit.checked || audit.ok);
  const report: VerifyReport = {
    file: o.file,
    ok,
    certificate: { subject: c.subject, customerId: c.customerId, job: c.job?.id ?? null, issuer: c.issuer, issuedAt: c.issuedAt, audit: c.audit },
    signature: { ok: sig.ok, keyId: doc.signature.keyId, publicKey: source, ...(sig.ok ? {} : { problem: sig.problem }) },
    audit,
  };
  await print(d.io, o.output, view(report, (io) => {
    io.out.write(`${o.file}: ${c.subject} certificate of ${c.customerId}${c.job ? ` (job ${c.job.id})` : ''}, issued ${c.issuedAt} by ${c.issuer}\n`);
    io.out.write(sig.ok ? `signature: ok (ed25519, key ${shortKey(doc.signature.keyId)}, checked with ${source})\n` : `signature: FAILED: ${sig.problem}\n`);
    if (audit.checked) {
      io.out.write(audit.ok
        ? `audit chain: ok: ${'database' in audit ? audit.database : 'the database'} holds row ${c.audit.seq} (${c.audit.action}, ${c.audit.at}) with the cited hash and content, and the chain verifies up to it\n`
        : `audit chain: FAILED: ${audit.problems[0] ?? 'unknown'}\n`);
      for (const p of audit.problems.slice(1)) io.out.write(`  then: ${p}\n`);
    } else {
      io.out.write(`audit chain: not checked: ${audit.notes[0] ?? ''}\n`);
    }
    for (const n of audit.checked ? audit.notes : audit.notes.slice(1)) io.out.write(`note: ${n}\n`);
    io.out.write(ok ? 'certificate: verified\n' : 'certificate: NOT verified\n');
  }));
  if (!ok) setExit(1);
  return report;
}

export async function runCertificateShow(d: Deps, o: { file: string; format: 'text' | 'html' }): Promise<void> {
  const doc = await readCertificate(o.file);
  const note = 'Shown, not verified: check it with custctl certificate verify.';
  // the document came from outside: every line made visible (a value cannot act on the terminal), line breaks kept
  writeStyled(d.io, styled(visibleLines(o.format === 'html' ? certificateHtml(doc, note) : certificateText(doc, note))));
}

export async function runCertificateKeygen(d: Deps, o: { out: string; output: OutputFormat }): Promise<{ path: string; keyId: string; publicKey: string }> {
  const { writeNewSigningKey } = await import('../adapters/secret-files.js');
  const k = await writeNewSigningKey(o.out);
  const result = { path: k.path, keyId: k.keyId, publicKey: k.publicKeyPem };
  d.log.ok(`Signing key written to ${k.path} (mode 0600): keep it secret, set CUSTCTL_SIGNING_KEY_FILE=${k.path}`);
  d.log.info('Publish the public key (stdout) where customers can fetch it: they verify certificates with it');
  await print(d.io, o.output, view(result, (io) => writeStyled(io, styled(k.publicKeyPem))));
  return result;
}

export function makeCertificateCommand(d: Deps, setExit: (code: number) => void = () => undefined) {
  const cmd = new Command('certificate')
    .description('Signed deletion and erasure certificates: the site\'s signing key, verify, show')
    .addHelpText('after', `
Examples:
  custctl certificate keygen --out /etc/custctl/signing-key.pem > signing-key.pub.pem
  custctl certificate verify cert.json --public-key signing-key.pub.pem
  custctl certificate show cert.json --html > cert.html`);
  cmd
    .command('keygen')
    .description('Write a new ed25519 signing key (PEM, mode 0600, never over an existing file) and print its public key')
    .requiredOption('--out <file>', 'where the private key goes (CUSTCTL_SIGNING_KEY_FILE then points at it)')
    .addOption(outputOption())
    .action(async (f) => {
      await runCertificateKeygen(d, { out: f.out, output: f.output });
    });
  cmd
    .command('verify')
    .description('Check a certificate\'s signature and, with database access, that the audit chain holds the row it cites (exit 1 if not)')
    .argument('<file>', 'the certificate (JSON)')
    .option('--public-key <file>', 'the site\'s public key, PEM (default: the public half of CUSTCTL_SIGNING_KEY_FILE)')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  custctl certificate verify cert.json --public-key signing-key.pub.pem\n  DATABASE_URL=postgres://… custctl certificate verify cert.json -o json')
    .action(async (file, f) => {
      await runCertificateVerify(d, { file, ...(f.publicKey !== undefined ? { publicKey: f.publicKey } : {}), output: f.output }, setExit);
    });
  cmd
    .command('show')
    .description('Print a certificate for people: text, or one self-contained HTML page (not a verification)')
    .argument('<file>', 'the certificate (JSON)')
    .addOption(new Option('--format <format>', 'text or html').choices(['text', 'html'] as const).default('text' as const))
    .action(async (file, f) => {
      await runCertificateShow(d, { file, format: f.format });
    });
  return cmd;
}
