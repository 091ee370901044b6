-- title: Tasks completed end-to-end
-- description: Distinct tasks that merge moved to done (task.status to=done by=merge): landed on the base branch after their tests passed on the merge result. Manual completions are not counted.
SELECT count(DISTINCT task) AS value
FROM events
WHERE kind = 'task.status'
  AND json_extract(data, '$.to') = 'done'
  AND json_extract(data, '$.by') = 'merge'
  AND ts >= batty_since(:since)
