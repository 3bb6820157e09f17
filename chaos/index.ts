/**
 * The chaos harness: cluster backends, the nemesis, workloads, the history recorder and the run
 * that ties them together. The checkers live in ./checker.
 */
export { describeLink, unsafeCanaries, type ClusterBackend, type Link, type NodeState, type UnexpectedExit, type UnsafeCanary } from './backend.js';
export { ClusterObserver, describeStatuses, highestLeader, type LeaderClaim, type SettledCluster } from './cluster-observer.js';
export { completedCount, describeCounts, HistoryRecorder, type Invocation, type OperationCounts } from './history-recorder.js';
export { LinkProxy, type LinkProxyOptions, type LinkProxyStats } from './link-proxy.js';
export { http2Preface, probeLink, type ProbeResult } from './link-probe.js';
export { describeMembers, isVoterSet, MembershipRefusedError, type MemberListView, type MembershipApi, type MemberView } from './membership-change.js';
export { describeCheck, faultProblems, NemesisRunner, type FaultCheck, type FaultRecord, type MembershipSession, type RunnerObserver } from './nemesis-runner.js';
export { NodeRoster } from './node-roster.js';
export {
  bridgeLinks,
  connectedMajority,
  describeFault,
  faultKinds,
  halfLinks,
  isolateLinks,
  killMajorityVictims,
  majority,
  nodesWithoutQuorum,
  parseNemesis,
  planNemesis,
  ringLinks,
  spareNodesFor,
  type Fault,
  type MembershipVariant,
  type FaultKind,
  type NemesisPlanOptions,
  type PlannedFault,
  type Target,
} from './nemesis.js';
export { chaosConfig, parseChaosArgs, usage, type ChaosConfig, type ParseResult } from './options.js';
export { ProcessBackend, type ProcessBackendOptions } from './process-backend.js';
export { formatSummary, membershipChanges, reportText, summaryLine, writeReport, type Convergence, type MembershipChange, type MembershipSummary, type ReportTimeline, type RunResult } from './report.js';
export { reportData, reportHtml, writeReportHtml, type ReportData, type ReportInput } from './report-html.js';
export { RoleTimeline, type RoleHistory, type RoleSpan } from './role-timeline.js';
export { runChaos, type RunIo } from './run.js';
export { AppendWorkload } from './workloads/append.js';
export { WorkloadDriver } from './workloads/driver.js';
export { RegisterWorkload } from './workloads/register.js';
export type { Durability, Workload, WorkloadName } from './workloads/workload.js';
