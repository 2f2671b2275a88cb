-- One question, many channels (dashboard, API, email, Slack, web push, MCP): the first answer wins, and a later one is
-- told which answer won: who (answered_by is the user when the answerer is one; answered_by_name is what a person
-- reads: the user's email, or an email link's recipient), through which channel, and when (answered_at).
ALTER TABLE clarifications ADD COLUMN answered_via TEXT;
ALTER TABLE clarifications ADD COLUMN answered_by_name TEXT;
