-- title: Escalations
-- description: Problems handed to the human (escalation.raised).
SELECT count(*) AS value
FROM events
WHERE kind = 'escalation.raised'
  AND ts >= batty_since(:since)
