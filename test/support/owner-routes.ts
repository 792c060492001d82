/**
 * Every route of `custctl serve` (the API and the console) and what an account owner may do with
 * it: the table the owner tests walk (test/integration/console-owner.test.ts through the real
 * server; test/unit/owner-routes.test.ts checks that no route is missing from it).
 */
export interface OwnerRouteCase {
  method: 'GET' | 'POST' | 'DELETE';
  /** the route as registered (fastify's pattern) */
  route: string;
  surface: 'api' | 'console';
  /** open: no token needed; owner: owner tokens may call it (for their own customer); staff: admins and viewers only (an owner gets 404) */
  access: 'open' | 'owner' | 'staff';
  /**
   * What `:id` is: the request is made for the owner's own one, another customer's and a missing
   * one; the last two must read the same. `:id` may also stand in the query.
   */
  id?: 'customer' | 'job';
  /** the path and query sent (default: the route); `:id` is replaced */
  path?: string;
  /** a console POST's form fields (besides _csrf); chosen so that the owner's own request is refused and changes nothing */
  form?: Record<string, string>;
}

export const OWNER_ROUTES: readonly OwnerRouteCase[] = [
  // ---- the API
  { method: 'GET', route: '/healthz', surface: 'api', access: 'open' },
  { method: 'GET', route: '/readyz', surface: 'api', access: 'staff' },
  { method: 'GET', route: '/metrics', surface: 'api', access: 'staff' },
  { method: 'GET', route: '/api/customers', surface: 'api', access: 'owner' },
  { method: 'GET', route: '/api/customers', surface: 'api', access: 'owner', path: '/api/customers?status=deployed' },
  { method: 'GET', route: '/api/customers/:id', surface: 'api', access: 'owner', id: 'customer' },
  // after=1s: below an owner's minimum, so the owner's own request is refused (nothing scheduled)
  { method: 'DELETE', route: '/api/customers/:id', surface: 'api', access: 'owner', id: 'customer', path: '/api/customers/:id?after=1s' },
  { method: 'POST', route: '/api/customers/:id/cancel-deletion', surface: 'api', access: 'owner', id: 'customer' },
  { method: 'DELETE', route: '/api/customers/:id/deployment', surface: 'api', access: 'staff', id: 'customer' },
  { method: 'GET', route: '/api/admin/jobs', surface: 'api', access: 'owner' },
  { method: 'GET', route: '/api/admin/jobs', surface: 'api', access: 'owner', id: 'customer', path: '/api/admin/jobs?customer=:id' },
  { method: 'GET', route: '/api/admin/jobs/:id', surface: 'api', access: 'owner', id: 'job' },
  { method: 'GET', route: '/api/admin/jobs/:id/deliveries', surface: 'api', access: 'owner', id: 'job' },
  { method: 'GET', route: '/api/admin/jobs/:id/certificate', surface: 'api', access: 'staff', id: 'job' },
  { method: 'POST', route: '/api/admin/customers/:id/erase', surface: 'api', access: 'staff', id: 'customer', path: '/api/admin/customers/:id/erase?dryRun=true' },
  { method: 'POST', route: '/api/admin/jobs/:id/retry', surface: 'api', access: 'staff', id: 'job' },
  { method: 'POST', route: '/api/admin/jobs/:id/cancel', surface: 'api', access: 'staff', id: 'job' },
  { method: 'GET', route: '/api/admin/audit', surface: 'api', access: 'staff' },
  { method: 'POST', route: '/api/admin/cleanup-rbac', surface: 'api', access: 'staff', path: '/api/admin/cleanup-rbac?dryRun=true' },
  // ---- the console
  { method: 'GET', route: '/console/static/console.js', surface: 'console', access: 'open' },
  { method: 'GET', route: '/console/static/console.css', surface: 'console', access: 'open' },
  { method: 'GET', route: '/console/login', surface: 'console', access: 'open' },
  { method: 'POST', route: '/console/login', surface: 'console', access: 'open', form: { token: 'not-a-token-0123456789' } },
  { method: 'POST', route: '/console/logout', surface: 'console', access: 'owner' },
  { method: 'GET', route: '/', surface: 'console', access: 'owner' },
  { method: 'GET', route: '/console/customers/:id', surface: 'console', access: 'owner', id: 'customer' },
  // a wrong ID typed: the owner's own request is refused (nothing deleted)
  { method: 'POST', route: '/console/customers/:id/delete', surface: 'console', access: 'owner', id: 'customer', form: { confirm: 'cust_typedwrong', after: '30d' } },
  { method: 'POST', route: '/console/customers/:id/cancel-deletion', surface: 'console', access: 'owner', id: 'customer' },
  { method: 'GET', route: '/console/jobs', surface: 'console', access: 'owner' },
  { method: 'GET', route: '/console/jobs', surface: 'console', access: 'owner', id: 'customer', path: '/console/jobs?customer=:id' },
  { method: 'GET', route: '/console/jobs/:id', surface: 'console', access: 'owner', id: 'job' },
  { method: 'GET', route: '/console/jobs/:id/live', surface: 'console', access: 'owner', id: 'job' },
  { method: 'GET', route: '/console/jobs/:id/certificate', surface: 'console', access: 'staff', id: 'job' },
  { method: 'POST', route: '/console/jobs/:id/retry', surface: 'console', access: 'staff', id: 'job' },
  { method: 'POST', route: '/console/jobs/:id/cancel', surface: 'console', access: 'staff', id: 'job' },
  { method: 'GET', route: '/console/rbac', surface: 'console', access: 'staff' },
  { method: 'POST', route: '/console/rbac/sweep', surface: 'console', access: 'staff' },
];
