/**
 * What an HTTP route is to the rest of the code: a plain function from request to
 * `{ status, body }`, registered from the one route table (route-table.ts). Failures are thrown
 * as MwiError and mapped to a status and error body in one place (errors.ts).
 */
import type { Principal, RouteRole } from './roles.ts';

export interface ApiRequest {
  params: Readonly<Record<string, string | undefined>>;
  query: Readonly<Record<string, string | string[] | undefined>>;
  /** Parsed JSON (or form fields on routes that accept forms), or undefined when the request had no body. */
  body: unknown;
  /** Who the guard admitted; undefined on public routes. */
  principal: Principal | undefined;
  /** The body came from an HTML form (application/x-www-form-urlencoded). */
  form: boolean;
  /** The request came over TLS: cookies get the Secure attribute. */
  secure: boolean;
}

export interface ApiResponse {
  status: number;
  body: unknown;
  /** Default: none (an object body is sent as JSON). An array sends the header once per value (Set-Cookie). */
  headers?: Record<string, string | string[]>;
}

export type Handler = (req: ApiRequest) => Promise<ApiResponse> | ApiResponse;

export interface RouteSpec {
  method: 'GET' | 'POST';
  url: string;
  /** The least role that may call it ('public': anyone); operators may do all viewers may. */
  role: RouteRole;
  /** Also read application/x-www-form-urlencoded bodies (the login form); default: JSON only. */
  acceptsForm?: boolean;
  /** Requests allowed per client address per minute; more answer 429 MWI_HTTP_RATE_LIMITED. */
  perClientPerMinute?: number;
  handler: Handler;
}

/** The principal of a guarded route's request (the guard admitted one, or the handler would not run). */
export function principalOf(req: ApiRequest): Principal {
  if (req.principal === undefined) throw new Error('a guarded handler ran without a principal');
  return req.principal;
}
