import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ClientCert {
  cert: string;
  key: string;
}

export interface Certs {
  dir: string;
  caCert: string;
  caKey: string;
  /** kube-apiserver serving certificate (127.0.0.1, localhost, kubernetes.default...) */
  serving: ClientCert;
  /** admin client certificate: CN=custctl-test-admin, O=system:masters */
  admin: ClientCert;
  /** kube-controller-manager client certificate: CN=system:kube-controller-manager, O=system:masters */
  controllerManager: ClientCert;
  /** service-account token signing key pair (RSA) */
  serviceAccountKey: string;
  serviceAccountPub: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

const ecKey = (dir: string, name: string): Promise<void> =>
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`], dir);

async function signed(dir: string, name: string, subject: string, ext: string): Promise<ClientCert> {
  await ecKey(dir, name);
  await openssl(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`], dir);
  await fs.writeFile(path.join(dir, `${name}.ext`), ext);
  await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', `0x${randomBytes(12).toString('hex')}`,
    '-days', '30', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.crt`], dir);
  return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
}

const CLIENT_EXT = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n';

/** Generates a throwaway CA and every certificate the control plane needs, in `dir`. */
export async function generateCerts(dir: string): Promise<Certs> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await Promise.all([
    (async () => {
      await ecKey(dir, 'ca');
      await openssl(['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=custctl-test-ca', '-days', '30', '-sha256',
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
        '-out', 'ca.crt'], dir);
    })(),
    openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'sa.key'], dir)
      .then(() => openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir)),
  ]);
  const [serving, admin, controllerManager] = await Promise.all([
    signed(dir, 'apiserver', '/CN=kube-apiserver',
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n'
    + 'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,'
    + 'DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n'),
    signed(dir, 'admin', '/O=system:masters/CN=custctl-test-admin', CLIENT_EXT),
    signed(dir, 'controller-manager', '/O=system:masters/CN=system:kube-controller-manager', CLIENT_EXT),
  ]);
  return {
    dir,
    caCert: path.join(dir, 'ca.crt'),
    caKey: path.join(dir, 'ca.key'),
    serving,
    admin,
    controllerManager,
    serviceAccountKey: path.join(dir, 'sa.key'),
    serviceAccountPub: path.join(dir, 'sa.pub'),
  };
}

/** A PostgreSQL server as a managed database presents it: a certificate from a private CA, not in Node's trust store. */
export interface PostgresCerts {
  dir: string;
  /** the CA that signed the server and client certificates (what sslrootcert= names) */
  caCert: string;
  /** server certificate for DNS:localhost only (so 127.0.0.1 fails verify-full and passes verify-ca) */
  server: ClientCert;
  /** a client certificate with CN=`clientUser` */
  client: ClientCert;
}

export async function generatePostgresCerts(dir: string, clientUser: string): Promise<PostgresCerts> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await ecKey(dir, 'ca');
  await openssl(['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=custctl-test-postgres-ca', '-days', '30', '-sha256',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    '-out', 'ca.crt'], dir);
  const [server, client] = await Promise.all([
    signed(dir, 'postgres-server', '/CN=localhost',
      'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost\n'),
    signed(dir, 'postgres-client', `/CN=${clientUser}`, CLIENT_EXT),
  ]);
  return { dir, caCert: path.join(dir, 'ca.crt'), server, client };
}
