/**
 * `NAME[:PASSWORD]`, as etcdctl's `--user` and `user add` take it: the name before the first
 * colon, and the password after it (which may itself hold colons), or null when there is no
 * colon. Where a missing password then comes from (a prompt, an environment variable) is the
 * caller's to decide.
 */
export function splitUserSpec(spec: string): { readonly name: string; readonly password: string | null } {
  const colon = spec.indexOf(':');
  return colon < 0 ? { name: spec, password: null } : { name: spec.slice(0, colon), password: spec.slice(colon + 1) };
}
