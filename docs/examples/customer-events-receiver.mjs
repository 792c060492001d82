#!/usr/bin/env node
/**
 * An example receiver of custctl's customer events (docs/portal.md): it checks the
 * signature of each delivery, processes each delivery once, looks up whom to write to (custctl
 * sends no personal data: the customer is its cust_… id), and writes the message. Here "writing"
 * prints the mail to stdout; a site replaces sendMail() with its mailer or CRM.
 *
 *   CUSTCTL_WEBHOOK_SECRET=…  CONTACTS_FILE=contacts.json  PORT=8080  node customer-events-receiver.mjs
 *
 * contacts.json: { "cust_abc123": { "email": "ops@example.com", "name": "Example Corp" } }
 * Node 20+, no dependencies.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const secret = process.env.CUSTCTL_WEBHOOK_SECRET;
if (!secret) throw new Error('set CUSTCTL_WEBHOOK_SECRET (the endpoint\'s secret in custctl\'s webhook configuration)');
const contacts = JSON.parse(readFileSync(process.env.CONTACTS_FILE ?? 'contacts.json', 'utf8'));
/** delivery ids seen (a real receiver keeps them in its database: retries resend a delivery) */
const seen = new Set();

function signatureOk(body, header) {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
  const got = Buffer.from(header ?? '');
  return got.length === expected.length && timingSafeEqual(got, expected);
}

const day = (iso) => new Date(iso).toUTCString().replace(/ \d\d:\d\d:\d\d GMT$/, '');

/** The words, per event. The links and the certificate come from the event; the address from your records. */
function message(e, who) {
  switch (e.event) {
    case 'customer.deletion-scheduled':
      return {
        subject: 'Your account will be deleted',
        text: `Hello ${who.name},\n\nyour account is scheduled for deletion on ${day(e.dueAt)}. On that day your application, its configuration `
          + 'and the data on its volumes are deleted and cannot be recovered. Until then your instance is paused.\n\n'
          + (e.cancelLink ? `To keep your account, or to download your data first, open ${e.cancelLink.url} (valid until ${day(e.cancelLink.expiresAt)}).\n` : 'To keep your account, reply to this message.\n'),
      };
    case 'customer.deletion-reminder':
      return {
        subject: 'Your account will be deleted soon',
        text: `Hello ${who.name},\n\nyour account will be deleted on ${day(e.dueAt)}.\n`
          + (e.cancelLink ? `You can still keep it or download your data: ${e.cancelLink.url}\n` : ''),
      };
    case 'customer.deletion-cancelled':
      return { subject: 'Your account will not be deleted', text: `Hello ${who.name},\n\nthe deletion of your account was cancelled${e.instanceRestored ? ' and your instance is running again' : ''}.\n` };
    case 'customer.deletion-completed':
      // the certificate is attached when the deletion issued one (certificateUrl: where the portal offers it)
      return e.certificate
        ? {
          subject: 'Your account has been deleted',
          text: `Hello ${who.name},\n\nyour account was deleted on ${day(e.completedAt)}. The attached certificate says what was deleted; `
            + 'anyone can check it with our published public key (custctl certificate verify).\n'
            + (e.certificateUrl ? `You can also download it at ${e.certificateUrl}\n` : ''),
          attachment: { filename: 'deletion-certificate.json', content: JSON.stringify(e.certificate, null, 2) },
        }
        : { subject: 'Your account has been deleted', text: `Hello ${who.name},\n\nyour account was deleted on ${day(e.completedAt)}.\n` };
    case 'customer.erased':
      // the last message: after it, delete the contact from your own records too
      return {
        subject: 'Your personal data has been erased',
        text: `Hello,\n\nthe personal data we kept about your account was erased on ${day(e.erasedAt)}. The attached certificate says what was erased.\n`,
        attachment: { filename: 'erasure-certificate.json', content: JSON.stringify(e.certificate, null, 2) },
      };
    default:
      return null; // an event this receiver does not know: accept it, do nothing
  }
}

function sendMail(to, m) {
  process.stdout.write(`To: ${to}\nSubject: ${m.subject}\n\n${m.text}${m.attachment ? `[attached: ${m.attachment.filename}, ${m.attachment.content.length} bytes]\n` : ''}.\n`);
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    // 1. the signature of the raw bytes, before anything is parsed
    if (req.method !== 'POST' || !signatureOk(body, req.headers['x-custctl-signature-256'])) return res.writeHead(401).end();
    const e = JSON.parse(body.toString('utf8'));
    // 2. each delivery once (a retry of a delivery that was processed gets 2xx again)
    if (seen.has(e.deliveryId)) return res.writeHead(204).end();
    const who = contacts[e.customerId];
    const m = message(e, who ?? { name: 'customer' });
    if (m && !who) {
      process.stderr.write(`no contact for ${e.customerId}: ${e.event} not sent\n`);
      return res.writeHead(503).end(); // retried later: perhaps the contact is added meanwhile
    }
    if (m) sendMail(who.email, m);
    seen.add(e.deliveryId);
    if (e.event === 'customer.erased') delete contacts[e.customerId];
    res.writeHead(204).end();
  });
});
server.listen(Number(process.env.PORT ?? 8080), process.env.HOST ?? '127.0.0.1', () => {
  process.stderr.write(`listening on ${server.address().port}\n`);
});
