-- title: Cost by day
-- description: Dollars the runner recorded for agent runs that exited on each local day (agent.exited data.usage.cost_usd).
SELECT day, round(sum(json_extract(data, '$.usage.cost_usd')), 4) AS cost_usd, count(*) AS runs
FROM events
WHERE kind = 'agent.exited'
  AND ts >= batty_since(:since)
GROUP BY day
ORDER BY day
