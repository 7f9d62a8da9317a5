export { adminDatabaseUrl, createTestDatabase } from './database.js';
export type { TestDatabase } from './database.js';
export { startTestServer, supabaseClient, TEST_JWT_SECRET } from './server.js';
export type { TestServer, ClientOptions } from './server.js';
export { FaultProxy } from './faultProxy.js';
export type { ScriptedFault } from './faultProxy.js';
export { freePort } from './ports.js';
