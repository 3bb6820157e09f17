import type { Command } from 'commander';
import { permissionTypes, type PermissionKeys, type PermissionType, type RolePermission } from '../src/client/index.js';
import { ConfigError } from '../src/shared/errors.js';
import { withClient, withClientOptions, type ClientFlags } from './client-commands.js';
import { nameAndPassword } from './user-flag.js';

/**
 * `raftkv user ...`, `raftkv role ...`, `raftkv auth ...`: etcdctl's user, role and auth
 * commands over the SDK's `client.auth`. Every one but `auth status` needs root once auth is on.
 */
export function registerAuthCommands(program: Command): void {
  const user = program.command('user').description('users: add, delete, passwd, grant-role, revoke-role, list, get');
  withClientOptions(
    user
      .command('add')
      .description('add a user (no :PASSWORD: asked for on a terminal, else $RAFTKV_PASSWORD); the user root gets the role root')
      .argument('<name[:password]>')
      .option('--no-password', 'a user without a password: it authenticates by client certificate (common name) only'),
  ).action(async (spec: string, flags: ClientFlags & { password: boolean }) => {
    const { name, password } = flags.password ? await nameAndPassword(spec, 'user add') : { name: spec, password: null };
    await withClient(flags, async (client, out) => {
      await client.auth.addUser(name, password);
      out.result({ user: name, added: true }, `User ${name} created`);
    });
  });
  withClientOptions(user.command('delete').description('delete a user (its tokens stop working)').argument('<name>')).action(async (name: string, flags: ClientFlags) =>
    withClient(flags, async (client, out) => {
      await client.auth.deleteUser(name);
      out.result({ user: name, deleted: true }, `User ${name} deleted`);
    }),
  );
  withClientOptions(user.command('passwd').description('change a user\'s password (its tokens stop working)').argument('<name[:password]>')).action(async (spec: string, flags: ClientFlags) => {
    const { name, password } = await nameAndPassword(spec, 'user passwd');
    await withClient(flags, async (client, out) => {
      await client.auth.changePassword(name, password);
      out.result({ user: name, passwordChanged: true }, 'Password updated');
    });
  });
  withClientOptions(user.command('grant-role').description('grant a role to a user').argument('<name>').argument('<role>')).action(async (name: string, role: string, flags: ClientFlags) =>
    withClient(flags, async (client, out) => {
      await client.auth.grantRole(name, role);
      out.result({ user: name, role, granted: true }, `Role ${role} is granted to user ${name}`);
    }),
  );
  withClientOptions(user.command('revoke-role').description('revoke a role from a user').argument('<name>').argument('<role>')).action(async (name: string, role: string, flags: ClientFlags) =>
    withClient(flags, async (client, out) => {
      await client.auth.revokeRole(name, role);
      out.result({ user: name, role, revoked: true }, `Role ${role} is revoked from user ${name}`);
    }),
  );
  withClientOptions(user.command('list').description('every user')).action(async (flags: ClientFlags) =>
    withClient(flags, async (client, out) => {
      const users = await client.auth.listUsers();
      out.result({ users }, users.join('\n'));
    }),
  );
  withClientOptions(user.command('get').description('a user\'s roles').argument('<name>')).action(async (name: string, flags: ClientFlags) =>
    withClient(flags, async (client, out) => {
      const { roles } = await client.auth.getUser(name);
      out.result({ user: name, roles }, `User: ${name}\nRoles: ${roles.join(' ')}`);
    }),
  );

  const role = program.command('role').description('roles: add, delete, grant, revoke, list, get');
  withClientOptions(role.command('add').description('add a role (no permissions yet)').argument('<role>')).action(async (name: string, flags: ClientFlags) =>
    withClient(flags, async (client, out) => {
      await client.auth.addRole(name);
      out.result({ role: name, added: true }, `Role ${name} created`);
    }),
  );
  withClientOptions(role.command('delete').description('delete a role (users holding it lose it)').argument('<role>')).action(async (name: string, flags: ClientFlags) =>
    withClient(flags, async (client, out) => {
      await client.auth.deleteRole(name);
      out.result({ role: name, deleted: true }, `Role ${name} deleted`);
    }),
  );
  withClientOptions(
    role
      .command('grant')
      .description('grant read, write or readwrite on KEY, on [KEY, RANGE_END), or with --prefix on every key starting with KEY')
      .argument('<role>')
      .argument('<permission>', 'read | write | readwrite')
      .argument('<key>')
      .argument('[range_end]')
      .option('--prefix', 'every key starting with KEY (KEY "" : every key)'),
  ).action(async (name: string, permission: string, key: string, rangeEnd: string | undefined, flags: ClientFlags & { prefix?: boolean }) => {
    const type = permissionType(permission);
    const keys = permissionKeys(key, rangeEnd, flags.prefix === true);
    await withClient(flags, async (client, out) => {
      await client.auth.grantPermission(name, type, keys);
      out.result({ role: name, permission: type, ...describeKeys(keys), granted: true }, `Role ${name} updated`);
    });
  });
  withClientOptions(
    role
      .command('revoke')
      .description('revoke the permission on KEY, [KEY, RANGE_END) or --prefix KEY')
      .argument('<role>')
      .argument('<key>')
      .argument('[range_end]')
      .option('--prefix', 'the permission granted with --prefix on KEY'),
  ).action(async (name: string, key: string, rangeEnd: string | undefined, flags: ClientFlags & { prefix?: boolean }) => {
    const keys = permissionKeys(key, rangeEnd, flags.prefix === true);
    await withClient(flags, async (client, out) => {
      await client.auth.revokePermission(name, keys);
      out.result({ role: name, ...describeKeys(keys), revoked: true }, `Permission of range ${describeText(keys)} is revoked from role ${name}`);
    });
  });
  withClientOptions(role.command('list').description('every role (root first)')).action(async (flags: ClientFlags) =>
    withClient(flags, async (client, out) => {
      const roles = await client.auth.listRoles();
      out.result({ roles }, roles.join('\n'));
    }),
  );
  withClientOptions(role.command('get').description('a role\'s permissions').argument('<role>')).action(async (name: string, flags: ClientFlags) =>
    withClient(flags, async (client, out) => {
      const { permissions } = await client.auth.getRole(name);
      out.result(
        { role: name, permissions: permissions.map((p) => ({ type: p.type, key: printable(p.key), rangeEnd: printable(p.rangeEnd) })) },
        [`Role ${name}`, ...permissions.map(describePermission)].join('\n'),
      );
    }),
  );

  const auth = program.command('auth').description('turn authentication on or off, or show whether it is on');
  withClientOptions(auth.command('enable').description('turn auth on (refused unless the user root exists)')).action(async (flags: ClientFlags) =>
    withClient(flags, async (client, out) => {
      await client.auth.enable();
      out.result({ enabled: true }, 'Authentication Enabled');
    }),
  );
  withClientOptions(auth.command('disable').description('turn auth off (needs root)')).action(async (flags: ClientFlags) =>
    withClient(flags, async (client, out) => {
      await client.auth.disable();
      out.result({ enabled: false }, 'Authentication Disabled');
    }),
  );
  withClientOptions(auth.command('status').description('whether auth is on, and the revision of its last change')).action(async (flags: ClientFlags) =>
    withClient(flags, async (client, out) => {
      const status = await client.auth.status();
      out.result(status, `Authentication Status: ${status.enabled}\nAuthRevision: ${status.authRevision}`);
    }),
  );
}

function permissionType(word: string): PermissionType {
  const type = word.toLowerCase();
  if (!permissionTypes.includes(type as PermissionType)) throw new ConfigError(`permission: must be read, write or readwrite, not ${JSON.stringify(word)}`);
  return type as PermissionType;
}

/** The keys a grant or revoke names; a range whose end does not sort after its start is refused here. */
export function permissionKeys(key: string, rangeEnd: string | undefined, prefix: boolean): PermissionKeys {
  if (prefix) {
    if (rangeEnd !== undefined) throw new ConfigError('--prefix and RANGE_END exclude each other: give one');
    return { prefix: key };
  }
  if (key === '') throw new ConfigError('key: must not be empty (for every key: "" --prefix)');
  if (rangeEnd === undefined) return { key };
  if (rangeEnd !== '\0' && Buffer.compare(Buffer.from(key), Buffer.from(rangeEnd)) >= 0) {
    throw new ConfigError(`range: the end ${JSON.stringify(rangeEnd)} must sort after the key ${JSON.stringify(key)} (the range [KEY, RANGE_END) would be empty)`);
  }
  return { key, rangeEnd };
}

function describeKeys(keys: PermissionKeys): Record<string, string> {
  return 'prefix' in keys ? { prefix: String(keys.prefix) } : { key: String(keys.key), ...(keys.rangeEnd === undefined ? {} : { rangeEnd: String(keys.rangeEnd) }) };
}

function describeText(keys: PermissionKeys): string {
  return 'prefix' in keys ? `${String(keys.prefix)}*` : keys.rangeEnd === undefined ? String(keys.key) : `[${String(keys.key)}, ${String(keys.rangeEnd)})`;
}

function describePermission(p: RolePermission): string {
  const label = p.type === 'read' ? 'Read' : p.type === 'write' ? 'Write' : 'Read/Write';
  if (p.rangeEnd.byteLength === 0) return `  ${label}: ${printable(p.key)}`;
  if (p.rangeEnd.byteLength === 1 && p.rangeEnd[0] === 0) return `  ${label}: [${printable(p.key)}, <end>)${p.key.byteLength === 0 ? ' (every key)' : ''}`;
  return `  ${label}: [${printable(p.key)}, ${printable(p.rangeEnd)})`;
}

function printable(bytes: Buffer): string {
  return bytes.toString('utf8');
}
