-- title: Budget warnings and budgets spent
-- description: Each budget.warned and budget.exceeded event: the budget (scope, unit), its limit and what was spent when it was said (SPEC 12).
SELECT ts, day, kind, task, seat, attempt,
       json_extract(data, '$.scope') AS scope,
       json_extract(data, '$.unit') AS unit,
       json_extract(data, '$.limit') AS "limit",
       json_extract(data, '$.spent') AS spent
FROM events
WHERE kind IN ('budget.warned', 'budget.exceeded')
  AND ts >= batty_since(:since)
ORDER BY ts, id
