-- title: Tasks failed
-- description: Distinct tasks moved to blocked, their attempts or respawns spent and escalated (task.status to=blocked).
SELECT count(DISTINCT task) AS value
FROM events
WHERE kind = 'task.status'
  AND json_extract(data, '$.to') = 'blocked'
  AND ts >= :since
