// The wallboard's RMA case card (issue 16): open and overdue counts from /api/cases/overdue, every 30 s.
const card = document.getElementById("cases-card");

async function refresh() {
  try {
    const resp = await fetch("/api/cases/overdue", { credentials: "same-origin" });
    if (!resp.ok) return;
    const data = await resp.json();
    document.getElementById("cases-open").textContent = String(data.open);
    const overdue = document.getElementById("cases-overdue");
    overdue.textContent = String(data.overdue);
    overdue.classList.toggle("overdue", data.overdue > 0);
    card.hidden = false;
  } catch (err) {
    // the card stays as it was; the next refresh tries again
  }
}

if (card) {
  refresh();
  setInterval(refresh, 30000);
}
