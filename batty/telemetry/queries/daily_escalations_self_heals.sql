-- title: Escalations and self-heals by day
-- description: Escalations raised (escalation.raised) and healing actions taken (doctor.action) on each local day.
SELECT day,
       sum(kind = 'escalation.raised') AS escalations,
       sum(kind = 'doctor.action') AS self_heals
FROM events
WHERE kind IN ('escalation.raised', 'doctor.action')
  AND ts >= batty_since(:since)
GROUP BY day
ORDER BY day
