/** KV.Stream's StreamResult as proto-loader decodes it (kv.proto); the response sits under its oneof name. */
export interface WireStreamResult {
  id: number;
  code: number;
  message: string;
  leaderId: string;
  leaderAddress: string;
  [response: string]: unknown;
}
