import { experimental } from '@grpc/grpc-js';
import { CIPHER_SUITES } from '@grpc/grpc-js/build/src/tls-helpers.js';
import { createSecureContext, type SecureContext } from 'node:tls';
import { loadTlsMaterial, type TlsFiles, type TlsMaterial } from './tls-files.js';

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/** What a reload did. */
export type ReloadResult =
  | { readonly kind: 'reloaded'; readonly material: TlsMaterial }
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'refused'; readonly error: Error };

/**
 * A certificate, key and CA that grpc-js credentials read through its certificate-provider
 * interface, so that `reload()` (on SIGHUP) gives new connections new certificates without a
 * restart: connections already open keep theirs, so rotating costs no election. A reload whose
 * files are broken (unreadable, key not the certificate's, expired, not signed by the CA) is
 * refused and the previous material stays in use.
 */
export class ReloadableCertificates implements experimental.CertificateProvider {
  private current: TlsMaterial;
  // Invariant: made from `current` (or null, not made yet); replaced only with it.
  private dialContext: { readonly material: TlsMaterial; readonly context: SecureContext } | null = null;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();

  /** Loads the files now; throws ConfigError naming the flag and file when one is wrong. */
  constructor(readonly files: TlsFiles) {
    this.current = loadTlsMaterial(files);
  }

  get material(): TlsMaterial {
    return this.current;
  }

  /**
   * The secure context for dialling with the current material (what grpc-js's certificate-provider
   * channel credentials build): the same object until a reload changes the material, so that TLS
   * sessions made with it are resumed and those made before the reload are not. Null without a CA.
   */
  dialSecureContext(): SecureContext | null {
    const material = this.current;
    if (material.ca === null) return null;
    if (this.dialContext?.material !== material) {
      this.dialContext = { material, context: createSecureContext({ ca: material.ca, cert: material.cert, key: material.key, ciphers: CIPHER_SUITES }) };
    }
    return this.dialContext.context;
  }

  reload(): ReloadResult {
    let material: TlsMaterial;
    try {
      material = loadTlsMaterial(this.files);
    } catch (error) {
      return { kind: 'refused', error: error as Error };
    }
    const same = material.cert.equals(this.current.cert) && material.key.equals(this.current.key) && (material.ca === null ? this.current.ca === null : this.current.ca !== null && material.ca.equals(this.current.ca));
    if (same) return { kind: 'unchanged' };
    this.current = material;
    for (const listener of this.caListeners) listener(this.caUpdate());
    for (const listener of this.identityListeners) listener(this.identityUpdate());
    return { kind: 'reloaded', material };
  }

  // grpc-js registers its listeners and only then its own watchers: a listener called before
  // that returns would be lost, so the first update is delivered on a later microtask.
  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    queueMicrotask(() => {
      if (this.caListeners.has(listener)) listener(this.caUpdate());
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    queueMicrotask(() => {
      if (this.identityListeners.has(listener)) listener(this.identityUpdate());
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  private caUpdate(): experimental.CaCertificateUpdate | null {
    return this.current.ca === null ? null : { caCertificate: this.current.ca };
  }

  private identityUpdate(): experimental.IdentityCertificateUpdate {
    return { certificate: this.current.cert, privateKey: this.current.key };
  }
}
