-- title: Agent respawns
-- description: Agents started again after dying, stalling or running out of context (agent.respawned).
SELECT count(*) AS value
FROM events
WHERE kind = 'agent.respawned'
  AND ts >= batty_since(:since)
