// The answers the API sends, and the status and level vocabularies in them, are declared once, in the .NET SDK (src/Clarity.Client), and the server builds exactly
// those records, so the server and its SDK cannot drift apart. Requests stay separate: the server binds every field
// as optional in order to answer a missing one with a 400 that names it, while the SDK makes required ones required.
global using Agent = Clarity.Client.Agent;
global using AgentPage = Clarity.Client.AgentPage;
global using AgentTask = Clarity.Client.AgentTask;
global using ApiKeyIdentity = Clarity.Client.ApiKeyIdentity;
global using ApiKeyInfo = Clarity.Client.ApiKeyInfo;
global using AppendLogsResult = Clarity.Client.AppendLogsResult;
global using Clarification = Clarity.Client.Clarification;
global using ClarificationPage = Clarity.Client.ClarificationPage;
global using ClarificationStatuses = Clarity.Client.ClarificationStatuses;
global using CreatedApiKey = Clarity.Client.CreatedApiKey;
global using HeartbeatResult = Clarity.Client.HeartbeatResult;
global using Lease = Clarity.Client.Lease;
global using LogEntry = Clarity.Client.LogEntry;
global using LogLevels = Clarity.Client.LogLevels;
global using LogPage = Clarity.Client.LogPage;
global using LogSearchHit = Clarity.Client.LogSearchHit;
global using LogSearchResult = Clarity.Client.LogSearchResult;
global using LoginResult = Clarity.Client.LoginResult;
global using Me = Clarity.Client.Me;
global using Member = Clarity.Client.Member;
global using OnExpiry = Clarity.Client.OnExpiry;
global using Org = Clarity.Client.Org;
global using OrgMembership = Clarity.Client.OrgMembership;
global using SetupResult = Clarity.Client.SetupResult;
global using SetupStatus = Clarity.Client.SetupStatus;
global using TaskPage = Clarity.Client.TaskPage;
global using TaskStatuses = Clarity.Client.TaskStatuses;
global using User = Clarity.Client.User;
