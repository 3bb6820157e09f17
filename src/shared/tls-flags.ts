/**
 * The `raftkv start` flags of a node with mutual TLS between members and client certificates
 * required, from the files `raftkv certs init` writes in `dir` (`<id>.crt`, `<id>.key`,
 * `ca.crt`). `dir` is as the node sees it (a container's mount point, say), so it is joined
 * with '/' rather than the local path rules.
 */
export function nodeTlsFlags(dir: string, id: string): string[] {
  const cert = `${dir}/${id}.crt`;
  const key = `${dir}/${id}.key`;
  const ca = `${dir}/ca.crt`;
  return ['--peer-cert', cert, '--peer-key', key, '--peer-ca', ca, '--client-cert', cert, '--client-key', key, '--client-ca', ca];
}
