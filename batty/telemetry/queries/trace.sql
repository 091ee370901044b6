-- title: Trace of a task
-- description: Every event of one task, spawn to done, by its correlation ids (task, TASK#attempt), with the escalations that name it.
-- view: no
WITH mine AS (
  SELECT * FROM events WHERE task = :task
  UNION
  SELECT * FROM events WHERE corr = :task OR corr LIKE :task || '#%'
  UNION
  SELECT * FROM events
  WHERE kind = 'escalation.raised'
    AND EXISTS (SELECT 1 FROM json_each(events.data, '$.tasks') WHERE value = :task)
)
SELECT id, ts, day, kind, task, seat, attempt, corr, host, cmd, data FROM mine
UNION
SELECT id, ts, day, kind, task, seat, attempt, corr, host, cmd, data FROM events
WHERE kind IN ('escalation.demoted', 'escalation.resolved')
  AND json_extract(data, '$.escalation') IN (
    SELECT json_extract(data, '$.escalation') FROM mine WHERE kind = 'escalation.raised')
ORDER BY ts, id
