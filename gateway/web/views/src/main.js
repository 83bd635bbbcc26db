// One bundle, three views: the server names the view in `data-view` when it serves each ui:// resource; without a
// name (the file opened as it is), the result's shape picks it.
import { renderCard } from "./card.js";
import { startView } from "./common.js";
import { renderTable } from "./table.js";
import { renderTasks } from "./tasks.js";

const VIEWS = { card: renderCard, tasks: renderTasks, table: renderTable };

function byShape(data) {
  if (Array.isArray(data.tasks)) return renderTasks;
  if (Array.isArray(data.processes) || data.counts) return renderTable;
  return renderCard;
}

const named = VIEWS[document.getElementById("view").dataset.view];
startView("baw-gateway-view", (data, context) => (named ?? byShape(data))(data, context));
