/**
 * The sync's safety promise, fuzzed through the planning a run does (parse, doubtful lines, role and
 * organization plans): whatever the file, the tenant and the limits, a user whose line was skipped, or names
 * a role that exists nowhere or an organization the sync does not manage, loses no role and no membership.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDesiredState } from '../../../shared/sync/desired-state.ts';
import type { OrganizationMember } from '../../../shared/sync/plan-organizations.ts';
import { planRun } from '../../../shared/sync/plan-run.ts';
import type { RoleMember } from '../../../shared/sync/plan-sync.ts';

const USERS = 8;
const MANAGED = [
  { ref: 'admin', id: 'rol_admin', name: 'admin' },
  { ref: 'rol_support', id: 'rol_support', name: 'support' },
];
const ORGANIZATIONS = [
  { ref: 'acme', id: 'org_acme', name: 'acme' },
  { ref: 'org_globex', id: 'org_globex', name: 'globex' },
];
/** Role refs a line may name: managed (by name or id), existing unmanaged, and misspelt (existing nowhere). */
const GOOD_ROLES = ['admin', 'rol_admin', 'support', 'rol_support', 'viewer'];
const BAD_ROLES = ['admn', 'suport', 'rol_admln'];
const GOOD_ORGANIZATIONS = ['acme', 'org_acme', 'globex', 'org_globex'];
const BAD_ORGANIZATIONS = ['acme-crop', 'globx', 'org_acrne'];

const userId = (n: number) => `auth0|${n}`;
const email = (n: number) => `u${n}@example.com`;

/** One line of the file, and whether the oracle must protect its user. */
const line = fc.record({
  user: fc.integer({ min: 0, max: USERS - 1 }),
  byEmail: fc.boolean(),
  upperCase: fc.boolean(),
  roles: fc.uniqueArray(fc.constantFrom(...GOOD_ROLES), { maxLength: 3 }),
  organizations: fc.dictionary(fc.constantFrom(...GOOD_ORGANIZATIONS), fc.uniqueArray(fc.constantFrom(...GOOD_ROLES), { maxLength: 2 }), { maxKeys: 2 }),
  /** How the line goes wrong, if it does. */
  fault: fc.constantFrom('none', 'none', 'none', 'bad-role', 'bad-org-role', 'bad-organization', 'roles-not-array', 'extra-field', 'trailing-space'),
  bad: fc.nat(),
});

describe('Property: planRun() never removes what a doubtful line protects', () => {
  it('holds over 2,000 files, tenants and limits', () => {
    let removalJobs = 0;
    fc.assert(
      fc.property(
        fc.array(line, { maxLength: 12 }),
        fc.boolean(),
        fc.array(fc.subarray([...Array(USERS).keys()]), { minLength: 2, maxLength: 2 }),
        fc.array(fc.array(fc.tuple(fc.integer({ min: 0, max: USERS - 1 }), fc.subarray(['rol_admin', 'rol_support', 'rol_viewer'])), { maxLength: USERS }), { minLength: 2, maxLength: 2 }),
        fc.record({ maxRemovalShare: fc.constantFrom(0, 0.1, 0.5, 1), maxRemovals: fc.integer({ min: 0, max: 10 }), minRemovals: fc.integer({ min: 0, max: 3 }) }),
        fc.boolean(),
        (lines, withGarbage, roleHolders, organizationMembers, limits, approveAll) => {
          // Prepare: the file, and who the oracle protects
          const protectedUsers = new Set<number>();
          const text = lines.map((entry) => {
            const organizations: Record<string, string[]> = { ...entry.organizations };
            const roles = [...entry.roles];
            const address = entry.upperCase ? email(entry.user).toUpperCase() : email(entry.user);
            const body: Record<string, unknown> = { ...(entry.byEmail ? { email: address } : { userId: userId(entry.user) }), roles, organizations };
            if (entry.fault !== 'none') protectedUsers.add(entry.user);
            if (entry.fault === 'bad-role') roles.push(BAD_ROLES[entry.bad % BAD_ROLES.length] ?? '');
            if (entry.fault === 'bad-org-role') organizations[GOOD_ORGANIZATIONS[entry.bad % GOOD_ORGANIZATIONS.length] ?? ''] = [BAD_ROLES[entry.bad % BAD_ROLES.length] ?? ''];
            if (entry.fault === 'bad-organization') organizations[BAD_ORGANIZATIONS[entry.bad % BAD_ORGANIZATIONS.length] ?? ''] = [];
            if (entry.fault === 'roles-not-array') body['roles'] = 'admin';
            if (entry.fault === 'extra-field') body['rolez'] = [];
            if (entry.fault === 'trailing-space') body[entry.byEmail ? 'email' : 'userId'] = `${entry.byEmail ? address : userId(entry.user)} `;
            return JSON.stringify(body);
          });
          if (withGarbage) text.push('{"userId": "auth0|');

          // The tenant as read: members of the managed roles (with emails, as Auth0 lists them), and of the organizations
          const roleMembers = new Map<string, RoleMember[]>(MANAGED.map((role, index) => [role.id, (roleHolders[index] ?? []).map((n) => ({ user_id: userId(n), email: email(n) }))]));
          const orgMembers = new Map<string, OrganizationMember[]>(
            ORGANIZATIONS.map((organization, index) => {
              const byUser = new Map((organizationMembers[index] ?? []).map(([n, roles]) => [n, { user_id: userId(n), email: email(n), roles }]));
              return [organization.id, [...byUser.values()]];
            }),
          );
          const input = {
            name: 'fuzz',
            desired: parseDesiredState(text.join('\n')),
            managed: MANAGED,
            otherRoles: new Set(['viewer']),
            organizations: ORGANIZATIONS,
            roleMembers,
            organizationMembers: orgMembers,
            manifest: {},
            limits: { allowRemovals: true, ...limits },
            approvals: new Set<string>(),
            now: 0,
          };

          // Act: a run, and (when approving) the run after the operator approved everything it withheld
          let plan = planRun(input);
          if (approveAll) {
            const withheld = [...(plan.roles.removalsBlocked ?? []), ...(plan.organizations.removalsBlocked ?? [])].map((group) => group.approval);
            plan = planRun({ ...input, approvals: new Set(withheld) });
          }

          // Assess: no removal names a protected user, by id or by email
          const removals = [...plan.roles.removes, ...plan.organizations.removes];
          removalJobs += removals.length;
          const targets = removals.map((job) => {
            const target = String(job.body['userId'] ?? job.body['email'] ?? '').toLowerCase();
            return [...Array(USERS).keys()].find((n) => target === userId(n) || target === email(n));
          });
          expect(targets.filter((n) => n === undefined || protectedUsers.has(n))).toEqual([]);
        },
      ),
      { numRuns: 2_000 },
    );
    // Not vacuous: the runs made removals
    expect(removalJobs).toBeGreaterThan(100);
  });
});
