"""The village warning chain: villages and their groups, responsible persons and loudspeakers
(model, load); 准备转移 / 立即转移 decided from readings (warnings, pure); the 叫应 chain,
broadcasts and reminders (desk); drills (drills)."""
