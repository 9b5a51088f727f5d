// The RabbitMQ brokers tests can run against: the machine's own 3.10 and the
// 4.x brokers that scripts/rabbitmq4.sh runs in Debian chroots.
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('./rabbitmq4.sh', import.meta.url));

const chrooted = (name, port) => ({
  name,
  url: `amqp://guest:guest@127.0.0.1:${port}`,
  ctl: ['bash', script, 'ctl', name],
});

export const brokers = [
  { name: '3.10', url: 'amqp://guest:guest@127.0.0.1:5672', ctl: ['rabbitmqctl'] },
  chrooted('4.0', 5673),
  chrooted('4.3', 5674),
];
