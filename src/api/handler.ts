/**
 * What an HTTP route is to the rest of the code: a plain function from request to
 * `{ status, body }`, registered from the one route table (route-table.ts). Failures are thrown
 * as MwiError and mapped to a status and error body in one place (errors.ts).
 */
export interface ApiRequest {
  params: Readonly<Record<string, string | undefined>>;
  query: Readonly<Record<string, string | string[] | undefined>>;
  /** Parsed JSON, or undefined when the request had no body. */
  body: unknown;
}

export interface ApiResponse {
  status: number;
  body: unknown;
  /** Default: none (an object body is sent as JSON). */
  headers?: Record<string, string>;
}

export type Handler = (req: ApiRequest) => Promise<ApiResponse> | ApiResponse;

export interface RouteSpec {
  method: 'GET' | 'POST';
  url: string;
  /** Needs the producer bearer token. */
  auth: boolean;
  handler: Handler;
}
