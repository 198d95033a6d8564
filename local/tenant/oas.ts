/**
 * Auth0's published OpenAPI description of the endpoints the product uses (a copy of
 * ../shared/auth0/management-api.subset.oas.json, kept in the repository so a clone runs alone; a test
 * keeps the two equal). The emulator takes its routes, scopes and request-body schemas from it, so it
 * agrees with Auth0 by construction rather than by transcription.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';

/** One Management API operation as the OpenAPI description states it. */
export interface OasOperation {
  readonly method: string;
  /** Path under `/api/v2`, e.g. `/users/{id}/roles`. */
  readonly path: string;
  readonly pattern: RegExp;
  /** Scopes of which a token needs any one. */
  readonly scopes: readonly string[];
  /** Validates the JSON request body, when the operation takes one. */
  readonly validateBody: ValidateFunction | undefined;
}

/** The parsed description. */
export const OAS_FILE = new URL('./management-api.subset.oas.json', import.meta.url);

interface OasDocument {
  paths: Record<string, Record<string, { security?: Array<Record<string, string[]>>; requestBody?: { content?: Record<string, { schema?: { $ref?: string } }> } }>>;
}

/** Loads the operations, compiling each request-body schema once. */
export function loadOperations(): OasOperation[] {
  const document = JSON.parse(readFileSync(OAS_FILE, 'utf8')) as OasDocument;
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: false });
  ajv.addSchema(document, 'oas');
  const operations: OasOperation[] = [];
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      if (typeof operation !== 'object' || operation === null || !('responses' in operation)) continue;
      const scopes = operation.security?.flatMap((entry) => entry['oAuth2ClientCredentials'] ?? []) ?? [];
      const ref = operation.requestBody?.content?.['application/json']?.schema?.$ref;
      operations.push({
        method: method.toUpperCase(),
        path,
        pattern: new RegExp(`^${path.replace(/\{\w+\}/g, '([^/]+)')}$`),
        scopes,
        validateBody: ref === undefined ? undefined : ajv.getSchema(`oas${ref}`),
      });
    }
  }
  return operations;
}

/** Auth0-style text for the first schema error: `Payload validation error: '…' on property roles`. */
export function describeSchemaError(errors: readonly ErrorObject[] | null | undefined): string {
  const [first] = errors ?? [];
  if (first === undefined) return 'Payload validation error';
  const where = first.instancePath === '' ? '' : ` on property ${first.instancePath.slice(1).replaceAll('/', '.')}`;
  const extra = first.keyword === 'additionalProperties' ? `Additional properties not allowed: ${String(first.params['additionalProperty'])}` : first.message;
  return `Payload validation error: '${extra ?? 'invalid'}'${where}.`;
}
