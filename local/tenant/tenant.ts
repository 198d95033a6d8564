/**
 * An Auth0 tenant emulator on loopback: `/oauth/token` (client credentials) and the Management API v2
 * endpoints the product uses, behaving as ../shared/auth0/FACTS.md documents Auth0: RS256 tokens and JWKS,
 * the documented error bodies and headers, scopes checked with the "any of" rule, one rate-limit bucket for
 * the tenant with `x-ratelimit-*` on every answer, metadata merge rules, offset and checkpoint paging.
 * Faults can be injected for tests and demos, and counters and state inspected.
 */
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, type JWK, SignJWT, errors as joseErrors, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { type OasOperation, describeSchemaError, loadOperations } from './oas.ts';
import type { Auth0Plan } from '../../shared/auth0/plans.ts';
import { createRandom } from '../workload.ts';
import { type BucketCount, RATE_LIMIT_PRESETS, type RateLimitSpec, type RateLimits, TOKEN_RATE_LIMIT, createRateLimits, createTokenBucket } from './rate-limit.ts';
import {
  ORGANIZATION_NAME,
  type TenantState,
  type TenantUser,
  addOrganization,
  addRole,
  addUser,
  createState,
  deleteUser,
  organizationRolesOf,
  organizationsOf,
  patchUser,
  rolesOf,
  toUserBody,
} from './state.ts';

/** A machine-to-machine application allowed to ask for Management API tokens. */
export interface TenantClient {
  readonly clientId: string;
  /** Secrets accepted now; two at once while a rotation propagates. */
  readonly secrets: Set<string>;
  /** Scopes of the application's grant for the Management API; changeable, as in the Dashboard. */
  scopes: readonly string[];
  /** Whether the application has a grant for the Management API at all. Default true. */
  authorized: boolean;
}

/** Faults to inject; all off by default. */
export interface TenantFaults {
  /** Share (0 to 1) of requests answered 503. */
  errorRate: number;
  /** Added before every answer, in milliseconds. */
  latencyMs: number;
  /** Share (0 to 1) of requests whose connection is dropped without an answer. */
  dropRate: number;
  /** Epoch milliseconds until which every Management API request is answered 429. */
  stormUntil: number;
  /** `/oauth/token` answers 503 while true. */
  tokenOutage: boolean;
  /**
   * Sees every Management API request that passed authentication, before it is handled: an answer it returns
   * is sent instead (a 429 for one write, say), and it may wait (to hold a write in flight).
   */
  intercept?: ((request: TenantRequest) => Answer | undefined | Promise<Answer | undefined>) | undefined;
  /** Called once a write has been applied; its answer waits for it. */
  afterWrite?: ((request: TenantRequest) => void | Promise<void>) | undefined;
}

/** A Management API request as the fault hooks see it. */
export interface TenantRequest {
  readonly method: string;
  /** `PATCH /api/v2/users/{id}`. */
  readonly route: string;
  /** The path parameters, decoded. */
  readonly params: readonly string[];
  readonly body: Record<string, unknown>;
}

/** Options of {@link startTenant}. */
export interface TenantOptions {
  readonly port?: number;
  /** One Management API bucket for every call: a preset name or burst and refill. Default `free`. */
  readonly rateLimit?: keyof typeof RATE_LIMIT_PRESETS | RateLimitSpec;
  /**
   * Auth0's buckets of a plan instead (FACTS.md): the API-wide one where the plan has one, then each endpoint
   * group's; the headers of an answer describe its group's bucket. Wins over `rateLimit`.
   */
  readonly plan?: Auth0Plan;
  /**
   * Network time added to every answer, drawn evenly from [minMs, maxMs] (half before the tenant sees the
   * request, half after it answers), from a generator seeded with `seed`: answers arrive off plan, as they do
   * between Lambda and Auth0.
   */
  readonly jitter?: { readonly minMs: number; readonly maxMs: number; readonly seed?: number };
  readonly tokenRateLimit?: RateLimitSpec;
  readonly tokenLifetimeSeconds?: number;
  /** Send `Retry-After` on 429s (some Auth0 answers do). Default false, so clients must read the bucket headers. */
  readonly retryAfter?: boolean;
  /**
   * Most roles one member may hold in one organization; one more answers 409 "No more roles can be assigned
   * to this organization member". Default: no limit.
   */
  readonly organizationMemberRoleLimit?: number;
  readonly clients?: ReadonlyArray<{ clientId: string; clientSecret: string; scopes: readonly string[] }>;
  readonly faults?: Partial<TenantFaults>;
  /** Told of every answer as it is sent, with the bucket its headers describe (reports build timelines from it). */
  readonly onAnswer?: (answer: { readonly route: string; readonly status: number; readonly bucket: string; readonly at: number }) => void;
  readonly now?: () => number;
  readonly random?: () => number;
}

/** Counts for tests and reports. */
export interface TenantCounters {
  tokensIssued: number;
  /** `METHOD /route/{param}` → status → count. */
  readonly requests: Map<string, Map<number, number>>;
}

/** A running tenant. */
export interface Tenant {
  /** `http://127.0.0.1:PORT`: use as `AUTH0_DOMAIN`. */
  readonly origin: string;
  /** `{origin}/api/v2/`. */
  readonly audience: string;
  readonly state: TenantState;
  readonly counters: TenantCounters;
  readonly clients: Map<string, TenantClient>;
  readonly faults: TenantFaults;
  /** Every successful write, in the order the tenant applied them. */
  readonly writes: Array<{ readonly route: string; readonly id: string | undefined; readonly body: Record<string, unknown> }>;
  /** Requests answered per status, across routes. */
  statusCounts(): Record<number, number>;
  /** One bucket for every call from now on. */
  setRateLimit(spec: RateLimitSpec): void;
  /** A plan's buckets from now on. */
  setPlan(plan: Auth0Plan): void;
  /** Calls and 429s per bucket (`api` for the API-wide or single bucket, else the endpoint group). */
  bucketCounts(): Record<string, BucketCount>;
  stop(): Promise<void>;
}

/** Every scope the emulated Management API knows, for a client that may do anything. */
export const ALL_SCOPES = [
  'read:users', 'update:users', 'delete:users', 'create:users', 'update:users_app_metadata',
  'read:roles', 'create:roles', 'update:roles', 'delete:roles', 'read:role_members', 'create:role_members', 'delete:role_members',
  'read:organizations', 'create:organizations', 'delete:organizations', 'read:organization_members', 'create:organization_members',
  'delete:organization_members', 'read:organization_member_roles', 'create:organization_member_roles', 'delete:organization_member_roles',
] as const;

/** Bodies over this many bytes get 413, as on every Auth0 endpoint. */
const MAX_PAYLOAD = 1_048_576;

/** An answer of the emulated tenant. */
export type Answer = { status: number; body?: unknown; headers?: Record<string, string> };
type Handler = (request: { params: string[]; query: URLSearchParams; body: Record<string, unknown>; scopes: ReadonlySet<string> }) => Answer;

const error = (status: number, errorName: string, message: string, errorCode?: string): Answer => ({
  status,
  body: { statusCode: status, error: errorName, message, ...(errorCode === undefined ? {} : { errorCode }) },
});
const badRequest = (message: string, errorCode = 'invalid_body') => error(400, 'Bad Request', message, errorCode);
/** The emulator's answer to a list of users naming one that does not exist (Auth0's own wording is not published). */
const UNKNOWN_USERS = 'One or more of the users do not exist.';
const noUser = () => error(404, 'Not Found', 'The user does not exist.', 'inexistent_user');
const noRole = () => error(404, 'Not Found', 'The role does not exist.', 'inexistent_role');
const noOrganization = () => error(404, 'Not Found', 'No organization found by that id or name');

/**
 * Starts a tenant on loopback.
 *
 * @example
 * const tenant = await startTenant({ port: 0, rateLimit: 'free', clients: [{ clientId, clientSecret, scopes: [...ALL_SCOPES] }] });
 * process.env.AUTH0_DOMAIN = tenant.origin;
 */
export async function startTenant(options: TenantOptions = {}): Promise<Tenant> {
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const state = createState();
  const counters: TenantCounters = { tokensIssued: 0, requests: new Map() };
  const faults: TenantFaults = { errorRate: 0, latencyMs: 0, dropRate: 0, stormUntil: 0, tokenOutage: false, ...options.faults };
  const clients = new Map<string, TenantClient>(
    (options.clients ?? []).map((client) => [client.clientId, { clientId: client.clientId, secrets: new Set([client.clientSecret]), scopes: client.scopes, authorized: true }]),
  );
  const spec = typeof options.rateLimit === 'object' ? options.rateLimit : RATE_LIMIT_PRESETS[options.rateLimit ?? 'free'];
  let limits: RateLimits = createRateLimits(options.plan === undefined ? { single: spec } : { plan: options.plan }, now);
  const finished: Array<Map<string, BucketCount>> = [];
  const jitter = options.jitter === undefined ? undefined : { ...options.jitter, next: createRandom(options.jitter.seed ?? 1) };
  const networkDelay = async () => {
    if (jitter === undefined) return;
    const ms = (jitter.minMs + (jitter.maxMs - jitter.minMs) * jitter.next()) / 2;
    await new Promise((resolve) => setTimeout(resolve, ms));
  };
  const tokenBucket = createTokenBucket(options.tokenRateLimit ?? TOKEN_RATE_LIMIT, now);
  const lifetime = options.tokenLifetimeSeconds ?? 86_400;
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const operations = loadOperations();
  const writes: Tenant['writes'] = [];
  let origin = '';

  const count = (route: string, status: number) => {
    const byStatus = counters.requests.get(route) ?? new Map<number, number>();
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
    counters.requests.set(route, byStatus);
  };

  // ---- Management API handlers, keyed by the OpenAPI operation ----
  const findUser = (id: string | undefined) => (id === undefined ? undefined : state.users.get(id));
  const findOrganization = (id: string | undefined) => (id === undefined ? undefined : state.organizations.get(id));
  /** The emulator's answer for member roles of a user who is not a member (the worker checks membership first). */
  const noMember = () => error(404, 'Not Found', 'The user is not a member of this organization.');
  const handlers: Record<string, Handler> = {
    'GET /users/{id}': ({ params }) => {
      const user = findUser(params[0]);
      return user === undefined ? noUser() : { status: 200, body: toUserBody(user) };
    },
    'PATCH /users/{id}': ({ params, body }) => {
      const user = findUser(params[0]);
      return user === undefined ? noUser() : { status: 200, body: toUserBody(patchUser(user, body)) };
    },
    'DELETE /users/{id}': ({ params }) => {
      if (params[0] !== undefined) deleteUser(state, params[0]);
      return { status: 204 };
    },
    'GET /users-by-email': ({ query }) => {
      const email = query.get('email');
      if (!email) return badRequest('Query validation error: \'Missing required property: email\' on property email (Email address to search for).', 'invalid_query_string');
      // Exact, as Auth0's is: database connections store emails lower-cased, so Ada@Example.com finds no one.
      const users = [...state.users.values()].filter((user) => user.email === email);
      return { status: 200, body: users.map((user) => pickFields(toUserBody(user), query)) };
    },
    'POST /users': ({ body }) => {
      const connection = String(body['connection']);
      if (typeof body['email'] !== 'string') return badRequest('Payload validation error: \'Missing required property: email\'.');
      const email = body['email'].toLowerCase();
      if ([...state.users.values()].some((user) => user.email === email && user.connection === connection)) {
        return error(409, 'Conflict', 'The user already exists.', 'auth0_idp_error');
      }
      const { password: _password, verify_email: _verify, ...profile } = body as Record<string, unknown> & Partial<TenantUser>;
      return { status: 201, body: toUserBody(addUser(state, { ...profile, email, connection })) };
    },
    'GET /users/{id}/roles': ({ params, query }) => {
      const user = findUser(params[0]);
      if (user === undefined) return noUser();
      return offsetPage(rolesOf(state, user.user_id), query, 'roles');
    },
    'POST /users/{id}/roles': ({ params, body }) => {
      const user = findUser(params[0]);
      if (user === undefined) return noUser();
      const ids = body['roles'] as string[];
      if (ids.some((id) => !state.roles.has(id))) return noRole();
      for (const id of ids) state.members.get(id)?.add(user.user_id);
      return { status: 204 };
    },
    'DELETE /users/{id}/roles': ({ params, body }) => {
      const user = findUser(params[0]);
      if (user === undefined) return noUser();
      for (const id of body['roles'] as string[]) state.members.get(id)?.delete(user.user_id);
      return { status: 204 };
    },
    'GET /roles': ({ query }) => {
      const filter = query.get('name_filter')?.toLowerCase();
      const roles = [...state.roles.values()].filter((role) => filter === undefined || role.name.toLowerCase().includes(filter));
      return offsetPage(roles, query, 'roles');
    },
    'POST /roles': ({ body }) => {
      const name = String(body['name']);
      if ([...state.roles.values()].some((role) => role.name.toLowerCase() === name.toLowerCase())) {
        return error(409, 'Conflict', 'Role name already exists', 'role_exists');
      }
      return { status: 200, body: addRole(state, { name, ...(typeof body['description'] === 'string' ? { description: body['description'] } : {}) }) };
    },
    'GET /roles/{id}': ({ params }) => {
      const role = params[0] === undefined ? undefined : state.roles.get(params[0]);
      return role === undefined ? noRole() : { status: 200, body: role };
    },
    'GET /roles/{id}/users': ({ params, query }) => {
      const members = params[0] === undefined ? undefined : state.members.get(params[0]);
      if (members === undefined) return noRole();
      const users = [...members].map((id) => state.users.get(id)).filter((user) => user !== undefined).map(toRoleUser);
      if (query.has('from') || query.has('take')) return checkpointPage(users, query);
      return offsetPage(users, query, 'users');
    },
    'POST /roles/{id}/users': ({ params, body }) => {
      const members = params[0] === undefined ? undefined : state.members.get(params[0]);
      if (members === undefined) return noRole();
      // The published description lists 400 (and 404 for the role) only: a list naming a user that does not
      // exist is refused as a whole, and nothing is assigned.
      const ids = body['users'] as string[];
      if (ids.some((id) => !state.users.has(id))) return badRequest(UNKNOWN_USERS);
      for (const id of ids) members.add(id);
      return { status: 200 };
    },
    'POST /organizations': ({ body }) => {
      const name = String(body['name']);
      if (!ORGANIZATION_NAME.test(name)) return badRequest(`Payload validation error: 'Object didn't pass validation for format organization-name: ${name}' on property name (The name of this organization).`);
      if ([...state.organizations.values()].some((organization) => organization.name === name)) return error(409, 'Conflict', 'An organization with this name already exists.');
      const organization = addOrganization(state, { name, ...(typeof body['display_name'] === 'string' ? { display_name: body['display_name'] } : {}) });
      return { status: 201, body: organization };
    },
    'GET /organizations': ({ query }) => offsetPage([...state.organizations.values()], query, 'organizations'),
    'GET /organizations/{id}': ({ params }) => {
      const organization = findOrganization(params[0]);
      return organization === undefined ? noOrganization() : { status: 200, body: organization };
    },
    'GET /organizations/name/{name}': ({ params }) => {
      const name = params[0] ?? '';
      const organization = [...state.organizations.values()].find((candidate) => candidate.name === name);
      return organization === undefined ? noOrganization() : { status: 200, body: organization };
    },
    'DELETE /organizations/{id}': ({ params }) => {
      const organization = findOrganization(params[0]);
      if (organization === undefined) return noOrganization();
      state.organizations.delete(organization.id);
      state.organizationMembers.delete(organization.id);
      return { status: 204 };
    },
    'GET /organizations/{id}/members': ({ params, query, scopes }) => {
      const members = params[0] === undefined ? undefined : state.organizationMembers.get(params[0]);
      if (members === undefined) return noOrganization();
      // Roles only when asked for (fields=…roles), as Auth0 does.
      const withRoles = (query.get('fields') ?? '').split(',').includes('roles') && query.get('include_fields') !== 'false';
      // As Auth0 documents: fields=roles also needs read:organization_member_roles.
      if (withRoles && !scopes.has('read:organization_member_roles')) {
        return error(403, 'Forbidden', 'Insufficient scope, expected all of: read:organization_member_roles', 'insufficient_scope');
      }
      const list = [...members.keys()]
        .map((id) => state.users.get(id))
        .filter((user) => user !== undefined)
        .map((user) => ({
          user_id: user.user_id,
          email: user.email,
          ...(user.name === undefined ? {} : { name: user.name }),
          ...(user.picture === undefined ? {} : { picture: user.picture }),
          ...(withRoles ? { roles: organizationRolesOf(state, params[0] ?? '', user.user_id).map((role) => ({ id: role.id, name: role.name })) } : {}),
        }));
      if (query.has('from') || query.has('take')) return checkpointPage(list, query, 'members');
      return offsetPage(list, query, 'members');
    },
    'POST /organizations/{id}/members': ({ params, body }) => {
      const members = params[0] === undefined ? undefined : state.organizationMembers.get(params[0]);
      if (members === undefined) return noOrganization();
      const ids = body['members'] as string[];
      // As for role users: the description lists 400 only, so a list with an unknown user is refused whole.
      if (ids.some((id) => !state.users.has(id))) return badRequest(UNKNOWN_USERS);
      // Adding an existing member keeps its roles.
      for (const id of ids) if (!members.has(id)) members.set(id, new Set());
      return { status: 204 };
    },
    'DELETE /organizations/{id}/members': ({ params, body }) => {
      const members = params[0] === undefined ? undefined : state.organizationMembers.get(params[0]);
      if (members === undefined) return noOrganization();
      // Removing a member removes its roles in the organization; an id that is not a member is ignored.
      for (const id of body['members'] as string[]) members.delete(id);
      return { status: 204 };
    },
    'GET /organizations/{id}/members/{user_id}/roles': ({ params, query }) => {
      const members = params[0] === undefined ? undefined : state.organizationMembers.get(params[0]);
      if (members === undefined) return noOrganization();
      const userId = params[1] ?? '';
      if (!members.has(userId)) return noMember();
      return offsetPage(organizationRolesOf(state, params[0] ?? '', userId), query, 'roles');
    },
    'POST /organizations/{id}/members/{user_id}/roles': ({ params, body }) => {
      const members = params[0] === undefined ? undefined : state.organizationMembers.get(params[0]);
      if (members === undefined) return noOrganization();
      const held = members.get(params[1] ?? '');
      if (held === undefined) return noMember();
      const ids = body['roles'] as string[];
      if (ids.some((id) => !state.roles.has(id))) return noRole();
      const after = new Set([...held, ...ids]);
      if (options.organizationMemberRoleLimit !== undefined && after.size > options.organizationMemberRoleLimit) {
        return error(409, 'Conflict', 'No more roles can be assigned to this organization member');
      }
      for (const id of ids) held.add(id);
      return { status: 204 };
    },
    'DELETE /organizations/{id}/members/{user_id}/roles': ({ params, body }) => {
      const members = params[0] === undefined ? undefined : state.organizationMembers.get(params[0]);
      if (members === undefined) return noOrganization();
      const held = members.get(params[1] ?? '');
      for (const id of body['roles'] as string[]) held?.delete(id);
      return { status: 204 };
    },
    'GET /users/{id}/organizations': ({ params, query }) => {
      const user = findUser(params[0]);
      if (user === undefined) return noUser();
      return offsetPage(organizationsOf(state, user.user_id), query, 'organizations');
    },
  };

  // ---- /oauth/token ----
  const issueToken = async (body: Record<string, unknown>): Promise<Answer> => {
    if (faults.tokenOutage) return { status: 503, body: { error: 'temporarily_unavailable', error_description: 'The service is temporarily unavailable' } };
    if (!tokenBucket.take()) {
      return { status: 429, body: { error: 'too_many_requests', error_description: 'Too Many Requests' }, headers: tokenBucket.headers() };
    }
    if (body['grant_type'] !== 'client_credentials') {
      return { status: 400, body: { error: 'unsupported_grant_type', error_description: `Unsupported grant type: ${String(body['grant_type'])}` } };
    }
    const client = typeof body['client_id'] === 'string' ? clients.get(body['client_id']) : undefined;
    if (client === undefined || typeof body['client_secret'] !== 'string' || !client.secrets.has(body['client_secret'])) {
      return { status: 401, body: { error: 'access_denied', error_description: 'Unauthorized' } };
    }
    const audience = `${origin}/api/v2/`;
    if (body['audience'] !== audience) {
      return { status: 403, body: { error: 'access_denied', error_description: `Service not enabled within domain: ${String(body['audience'])}` } };
    }
    if (!client.authorized) {
      return {
        status: 403,
        body: {
          error: 'access_denied',
          error_description: `Client is not authorized to access "${audience}". You need to create a "client-grant" associated to this API. See: https://auth0.com/docs/api/v2#!/Client_Grants/post_client_grants`,
        },
      };
    }
    const iat = Math.floor(now() / 1000);
    const scope = client.scopes.join(' ');
    const token = await new SignJWT({ scope, gty: 'client-credentials', azp: client.clientId })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid })
      .setIssuer(`${origin}/`)
      .setSubject(`${client.clientId}@clients`)
      .setAudience(audience)
      .setIssuedAt(iat)
      .setExpirationTime(iat + lifetime)
      .sign(privateKey as CryptoKey);
    counters.tokensIssued += 1;
    return { status: 200, body: { access_token: token, expires_in: lifetime, scope, token_type: 'Bearer' } };
  };

  // ---- Management API pipeline: rate limit, authentication, route, scope, body ----
  const management = async (method: string, path: string, query: URLSearchParams, headers: IncomingMessage['headers'], raw: string): Promise<[string, Answer, string]> => {
    const operation = operations.find((candidate) => candidate.method === method && candidate.pattern.test(path));
    const route = operation === undefined ? `${method} /api/v2${path}` : `${method} /api/v2${operation.path}`;
    const taken = now() < faults.stormUntil ? undefined : limits.take(method, operation?.path ?? path);
    // The answer's headers describe the bucket that refused the call, or else its group's (the API-wide one in a storm).
    return [...(await admitted()), taken?.bucket ?? 'api'];

    async function admitted(): Promise<[string, Answer]> {
      if (taken === undefined) {
        return [route, { ...error(429, 'Too Many Requests', 'Global limit has been reached', 'too_many_requests'), headers: stormHeaders() }];
      }
      if (!taken.allowed) return [route, error(429, 'Too Many Requests', 'Global limit has been reached', 'too_many_requests')];
      const authorization = headers.authorization;
      if (authorization === undefined) return [route, error(401, 'Unauthorized', 'Missing authentication')];
      const bearer = /^Bearer ([^\s]+)$/.exec(authorization)?.[1];
      if (bearer === undefined) return [route, badRequest('Bad HTTP authentication header format', 'invalid_header')];
      const claims = await verify(bearer);
      if (typeof claims === 'string') {
        return [route, { ...error(401, 'Unauthorized', claims), headers: { 'www-authenticate': `Token error="${claims}"` } }];
      }
      if (operation === undefined) return [route, error(404, 'Not Found', 'Not Found')];
      const granted = new Set(String(claims['scope'] ?? '').split(' '));
      if (!operation.scopes.some((scope) => granted.has(scope))) {
        return [route, error(403, 'Forbidden', `Insufficient scope, expected any of: ${operation.scopes.join(',')}`, 'insufficient_scope')];
      }
      const parsed = parseBody(operation, headers['content-type'], raw);
      if ('status' in parsed) return [route, parsed];
      const handler = handlers[`${method} ${operation.path}`];
      if (handler === undefined) return [route, error(501, 'Not Implemented', `${route} is not emulated`)];
      const pagingError = checkPaging(query);
      if (pagingError !== undefined) return [route, pagingError];
      const params = (operation.pattern.exec(path) ?? []).slice(1).map((value) => decodeURIComponent(value));
      const seen = { method, route, params, body: parsed.body };
      const intercepted = await faults.intercept?.(seen);
      if (intercepted !== undefined) return [route, intercepted];
      const answer = handler({ params, query, body: parsed.body, scopes: granted });
      if (method !== 'GET' && answer.status < 300) {
        writes.push({ route, id: params[0], body: parsed.body });
        await faults.afterWrite?.(seen);
      }
      return [route, answer];
    }
  };

  const verify = async (token: string): Promise<Record<string, unknown> | string> => {
    try {
      const { payload } = await jwtVerify(token, publicKey, {
        issuer: `${origin}/`,
        audience: `${origin}/api/v2/`,
        algorithms: ['RS256'],
        currentDate: new Date(now()),
      });
      return payload;
    } catch (caught) {
      if (caught instanceof joseErrors.JWTExpired) return 'Expired token received for JSON Web Token validation.';
      if (caught instanceof joseErrors.JWSSignatureVerificationFailed) return 'Invalid signature received for JSON Web Token validation.';
      return 'Invalid token';
    }
  };

  const stormHeaders = () => ({
    'x-ratelimit-limit': String(limits.spec('api').burst),
    'x-ratelimit-remaining': '0',
    'x-ratelimit-reset': String(Math.ceil(faults.stormUntil / 1000)),
  });

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', origin);
    const method = request.method ?? 'GET';
    const { raw, tooLarge } = await readBody(request);
    await networkDelay();
    if (faults.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, faults.latencyMs));
    if (faults.dropRate > 0 && random() < faults.dropRate) {
      request.socket.destroy();
      count(`${method} ${url.pathname}`, 0);
      return;
    }
    let route = `${method} ${url.pathname}`;
    let answer: Answer;
    let reported = 'api';
    const isManagement = url.pathname.startsWith('/api/v2/');
    if (tooLarge) {
      answer = error(413, 'Request Entity Too Large', `Payload content length greater than maximum allowed: ${MAX_PAYLOAD}`);
    } else if (faults.errorRate > 0 && random() < faults.errorRate) {
      answer = error(503, 'Service Unavailable', 'The service is temporarily unavailable');
    } else if (method === 'POST' && url.pathname === '/oauth/token') {
      const body = parseTokenBody(request.headers['content-type'], raw);
      answer = body === undefined ? { status: 400, body: { error: 'invalid_request', error_description: 'Invalid request body' } } : await issueToken(body);
    } else if (method === 'GET' && url.pathname === '/.well-known/jwks.json') {
      answer = { status: 200, body: { keys: [jwk] } };
    } else if (isManagement) {
      [route, answer, reported] = await management(method, url.pathname.slice('/api/v2'.length), url.searchParams, request.headers, raw);
    } else {
      answer = error(404, 'Not Found', 'Not Found');
    }
    count(route, answer.status);
    options.onAnswer?.({ route, status: answer.status, bucket: reported, at: now() });
    const headers: Record<string, string> = { ...(isManagement ? limits.headers(reported) : {}), ...answer.headers };
    if (answer.status === 429 && options.retryAfter) {
      const reset = Number(headers['x-ratelimit-reset'] ?? 0) * 1000;
      headers['retry-after'] = String(Math.max(1, Math.ceil((reset - now()) / 1000)));
    }
    await networkDelay();
    if (answer.body === undefined) {
      response.writeHead(answer.status, headers).end();
    } else {
      response.writeHead(answer.status, { 'content-type': 'application/json; charset=utf-8', ...headers }).end(JSON.stringify(answer.body));
    }
  };

  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ statusCode: 500, error: 'Internal Server Error', message: 'Internal Server Error' }));
    });
  });
  // A port in use rejects here (EADDRINUSE) instead of crashing the process with an unhandled 'error'.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    origin,
    audience: `${origin}/api/v2/`,
    state,
    counters,
    clients,
    faults,
    writes,
    statusCounts() {
      const totals: Record<number, number> = {};
      for (const byStatus of counters.requests.values()) for (const [status, n] of byStatus) totals[status] = (totals[status] ?? 0) + n;
      return totals;
    },
    setRateLimit(next) {
      finished.push(limits.counts);
      limits = createRateLimits({ single: next }, now);
    },
    setPlan(plan) {
      finished.push(limits.counts);
      limits = createRateLimits({ plan }, now);
    },
    bucketCounts() {
      const totals: Record<string, BucketCount> = {};
      for (const counts of [...finished, limits.counts]) {
        for (const [key, { calls, rateLimited }] of counts) {
          const entry = totals[key] ?? { calls: 0, rateLimited: 0 };
          totals[key] = { calls: entry.calls + calls, rateLimited: entry.rateLimited + rateLimited };
        }
      }
      return totals;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readBody(request: IncomingMessage): Promise<{ raw: string; tooLarge: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size <= MAX_PAYLOAD) chunks.push(chunk as Buffer);
  }
  return { raw: Buffer.concat(chunks).toString('utf8'), tooLarge: size > MAX_PAYLOAD };
}

function parseTokenBody(contentType: string | undefined, raw: string): Record<string, unknown> | undefined {
  if (contentType?.includes('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(raw));
  try {
    const value: unknown = JSON.parse(raw);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function parseBody(operation: OasOperation, contentType: string | undefined, raw: string): { body: Record<string, unknown> } | Answer {
  if (operation.validateBody === undefined) return { body: {} };
  let body: unknown;
  try {
    body = contentType?.includes('application/x-www-form-urlencoded') ? Object.fromEntries(new URLSearchParams(raw)) : JSON.parse(raw === '' ? '{}' : raw);
  } catch {
    return badRequest('Invalid request payload JSON format');
  }
  if (!operation.validateBody(body)) return badRequest(describeSchemaError(operation.validateBody.errors));
  return { body: body as Record<string, unknown> };
}

function checkPaging(query: URLSearchParams): Answer | undefined {
  for (const [name, min, max] of [['page', 0, Number.MAX_SAFE_INTEGER], ['per_page', 1, 100], ['take', 1, 100]] as const) {
    const value = query.get(name);
    if (value !== null && !(/^\d+$/.test(value) && Number(value) >= min && Number(value) <= max)) {
      return badRequest(`Query validation error: '${name}' must be an integer from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''}.`, 'invalid_query_string');
    }
  }
  return undefined;
}

/** `page`/`per_page`/`include_totals` paging; offset paging stops at 1,000 results, as on Auth0. */
function offsetPage<T>(items: readonly T[], query: URLSearchParams, key: string): Answer {
  const page = Number(query.get('page') ?? 0);
  const perPage = Number(query.get('per_page') ?? 50);
  const start = page * perPage;
  if (start + perPage > 1000 && start > 0) {
    return badRequest('Requesting page exceeds the allowed maximum of 1000 records; use checkpoint pagination (from, take).', 'invalid_paging');
  }
  const slice = items.slice(start, start + perPage);
  if (query.get('include_totals') === 'true') return { status: 200, body: { start, limit: perPage, total: items.length, [key]: slice } };
  return { status: 200, body: slice };
}

/** `from`/`take` checkpoint paging: an opaque forward-only cursor. */
function checkpointPage(users: ReadonlyArray<{ user_id: string }>, query: URLSearchParams, key = 'users'): Answer {
  const take = Number(query.get('take') ?? 50);
  const from = query.get('from');
  let start = 0;
  if (from !== null && from !== '') {
    start = Number(Buffer.from(from, 'base64url').toString('utf8'));
    if (!Number.isInteger(start) || start < 0) return badRequest('Invalid checkpoint (from).', 'invalid_query_string');
  }
  const slice = users.slice(start, start + take);
  const nextIndex = start + slice.length;
  return { status: 200, body: { [key]: slice, ...(nextIndex < users.length ? { next: Buffer.from(String(nextIndex)).toString('base64url') } : {}) } };
}

function toRoleUser(user: TenantUser) {
  return { user_id: user.user_id, email: user.email, ...(user.name === undefined ? {} : { name: user.name }), ...(user.picture === undefined ? {} : { picture: user.picture }) };
}

function pickFields(user: Record<string, unknown>, query: URLSearchParams): Record<string, unknown> {
  const fields = query.get('fields');
  if (!fields) return user;
  const names = new Set(fields.split(','));
  const include = query.get('include_fields') !== 'false';
  return Object.fromEntries(Object.entries(user).filter(([key]) => names.has(key) === include));
}

